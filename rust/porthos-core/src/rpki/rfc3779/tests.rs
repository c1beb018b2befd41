use proptest::prelude::*;

use super::*;

fn v4(a: [u8; 4]) -> u128 {
    u32::from_be_bytes(a).into()
}

fn set(v: Vec<(u128, u128)>) -> IntervalSet {
    IntervalSet::from_intervals(v).unwrap()
}

#[test]
fn rfc3779_appendix_b_shapes() {
    // 10.0.32.0/20, 10.0.64.0/24, 10.1.0.0/16, 10.2.48.0 - 10.2.64.255, 10.3.0.0/16
    let ranges = vec![
        (v4([10, 0, 32, 0]), v4([10, 0, 47, 255])),
        (v4([10, 0, 64, 0]), v4([10, 0, 64, 255])),
        (v4([10, 1, 0, 0]), v4([10, 1, 255, 255])),
        (v4([10, 2, 48, 0]), v4([10, 2, 64, 255])),
        (v4([10, 3, 0, 0]), v4([10, 3, 255, 255])),
    ];
    let der = encode_ip_addr_blocks(Some(&Choice::Set(set(ranges.clone()))), None).unwrap();
    let items: &[u8] = &[
        0x03, 0x04, 0x04, 0x0a, 0x00, 0x20, // 10.0.32/20
        0x03, 0x04, 0x00, 0x0a, 0x00, 0x40, // 10.0.64/24
        0x03, 0x03, 0x00, 0x0a, 0x01, // 10.1/16
        0x30, 0x0c, 0x03, 0x04, 0x04, 0x0a, 0x02, 0x30, // min 10.2.48.0
        0x03, 0x04, 0x00, 0x0a, 0x02, 0x40, // max 10.2.64.255
        0x03, 0x03, 0x00, 0x0a, 0x03, // 10.3/16
    ];
    assert!(der.ends_with(items), "{der:02x?}");
    assert_eq!(&der[4..8], &[0x04, 0x02, 0x00, 0x01], "AFI IPv4, no SAFI");
    let (back, none) = parse_ip_addr_blocks(&der).unwrap();
    assert_eq!(back, Some(Choice::Set(set(ranges))));
    assert!(none.is_none());

    // asnum 135, 3000-3999, 5001
    let asn = set(vec![(135, 135), (3000, 3999), (5001, 5001)]);
    let der = encode_as_identifiers(&Choice::Set(asn.clone())).unwrap();
    assert_eq!(
        der,
        [
            0x30, 0x16, 0xa0, 0x14, 0x30, 0x12, 0x02, 0x02, 0x00, 0x87, 0x30, 0x08, 0x02, 0x02,
            0x0b, 0xb8, 0x02, 0x02, 0x0f, 0x9f, 0x02, 0x02, 0x13, 0x89
        ]
    );
    assert_eq!(parse_as_identifiers(&der).unwrap(), Choice::Set(asn));
}

#[test]
fn edges_and_inherit() {
    // 0.0.0.0/0 and the whole IPv6 space are prefixes of length 0: 03 01 00.
    let all4 = Choice::Set(set(vec![(0, Afi::Ipv4.max())]));
    let all6 = Choice::Set(set(vec![(0, u128::MAX)]));
    let der = encode_ip_addr_blocks(Some(&all4), Some(&all6)).unwrap();
    assert_eq!(
        der,
        [
            0x30, 0x16, 0x30, 0x09, 0x04, 0x02, 0x00, 0x01, 0x30, 0x03, 0x03, 0x01, 0x00, 0x30,
            0x09, 0x04, 0x02, 0x00, 0x02, 0x30, 0x03, 0x03, 0x01, 0x00
        ]
    );
    assert_eq!(
        parse_ip_addr_blocks(&der).unwrap(),
        (Some(all4), Some(all6))
    );
    // A range from 0 to all-ones-but-not-a-prefix: min and max encode as empty /
    // short strings.
    let r = Choice::Set(set(vec![(0, v4([10, 255, 255, 255]))]));
    let der = encode_ip_addr_blocks(Some(&r), None).unwrap();
    assert!(
        der.ends_with(&[0x30, 0x07, 0x03, 0x01, 0x00, 0x03, 0x02, 0x00, 0x0a]),
        "{der:02x?}"
    );
    assert_eq!(parse_ip_addr_blocks(&der).unwrap().0, Some(r));
    let inh = encode_ip_addr_blocks(None, Some(&Choice::Inherit)).unwrap();
    assert_eq!(
        inh,
        [0x30, 0x08, 0x30, 0x06, 0x04, 0x02, 0x00, 0x02, 0x05, 0x00]
    );
    assert_eq!(
        parse_ip_addr_blocks(&inh).unwrap(),
        (None, Some(Choice::Inherit))
    );
    let asi = encode_as_identifiers(&Choice::Inherit).unwrap();
    assert_eq!(asi, [0x30, 0x04, 0xa0, 0x02, 0x05, 0x00]);
    assert_eq!(parse_as_identifiers(&asi).unwrap(), Choice::Inherit);
    assert!(encode_ip_addr_blocks(None, None).is_err());
    assert!(encode_ip_addr_blocks(Some(&Choice::Set(IntervalSet::new())), None).is_err());
    assert!(encode_ip_addr_blocks(Some(&Choice::Set(set(vec![(0, 1u128 << 32)]))), None).is_err());
    assert!(encode_as_identifiers(&Choice::Set(set(vec![(0, 1u128 << 32)]))).is_err());
}

fn afi_v4(items: &[u8]) -> Vec<u8> {
    let mut fam = vec![0x04, 0x02, 0x00, 0x01];
    fam.extend(writer::tlv(tag::SEQUENCE, items));
    writer::tlv(tag::SEQUENCE, &writer::tlv(tag::SEQUENCE, &fam))
}

#[test]
fn non_canonical_is_refused() {
    let cases: &[(&str, &[u8])] = &[
        // 10.0.0.0/24 then 10.0.1.0/24: adjacent, must be 10.0.0.0/23.
        (
            "adjacent",
            &[0x03, 0x04, 0x00, 10, 0, 0, 0x03, 0x04, 0x00, 10, 0, 1],
        ),
        // 10.1/16 before 10.0/16: unsorted.
        (
            "unsorted",
            &[0x03, 0x03, 0x00, 10, 1, 0x03, 0x03, 0x00, 10, 0],
        ),
        // A range 10.0.0.0 - 10.0.255.255 that is the prefix 10.0/16.
        (
            "range is prefix",
            &[0x30, 0x08, 0x03, 0x02, 0x00, 10, 0x03, 0x02, 0x00, 10],
        ),
        // min 10.2.48.0 written with a trailing zero bit kept (unused 3, not 4).
        (
            "min not minimal",
            &[
                0x30, 0x0c, 0x03, 0x04, 0x03, 10, 2, 0x30, 0x03, 0x04, 0x00, 10, 2, 0x40,
            ],
        ),
        // padding bits not zero: 10.0.32/20 with the low nibble 0x2f.
        ("padding", &[0x03, 0x04, 0x04, 10, 0, 0x2f]),
        // unused bits in an empty string.
        ("empty with unused", &[0x03, 0x01, 0x01]),
        // five octets in IPv4.
        ("too long", &[0x03, 0x06, 0x00, 1, 2, 3, 4, 5]),
        // empty list.
        ("empty", &[]),
    ];
    for (what, items) in cases {
        assert!(parse_ip_addr_blocks(&afi_v4(items)).is_err(), "{what}");
    }
    // SAFI (3-octet addressFamily) is not RPKI.
    let safi = [
        0x30, 0x0b, 0x30, 0x09, 0x04, 0x03, 0x00, 0x01, 0x01, 0x30, 0x02, 0x03, 0x00,
    ];
    assert!(parse_ip_addr_blocks(&safi[..]).is_err());
    // IPv6 before IPv4, and IPv4 twice.
    let inh = |afi: u8| [0x30, 0x06, 0x04, 0x02, 0x00, afi, 0x05, 0x00];
    let twice = writer::tlv(tag::SEQUENCE, &[inh(1), inh(1)].concat());
    let swapped = writer::tlv(tag::SEQUENCE, &[inh(2), inh(1)].concat());
    assert!(parse_ip_addr_blocks(&twice).is_err());
    assert!(parse_ip_addr_blocks(&swapped).is_err());
    // AS: adjacent ids, range with min == max, rdi present, negative.
    let asn = |items: &[u8]| {
        writer::tlv(
            tag::SEQUENCE,
            &writer::tlv(
                tag::context_constructed(0),
                &writer::tlv(tag::SEQUENCE, items),
            ),
        )
    };
    assert!(parse_as_identifiers(&asn(&[0x02, 0x01, 0x05, 0x02, 0x01, 0x06])).is_err());
    assert!(parse_as_identifiers(&asn(&[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x05])).is_err());
    assert!(parse_as_identifiers(&asn(&[0x02, 0x01, 0x80])).is_err());
    assert!(parse_as_identifiers(&asn(&[0x02, 0x01, 0x05])).is_ok());
    let mut rdi = asn(&[0x02, 0x01, 0x05]);
    rdi.extend([0xa1, 0x02, 0x05, 0x00]);
    rdi[1] += 4;
    assert!(parse_as_identifiers(&rdi).is_err());
}

fn arb_v4_set() -> impl Strategy<Value = IntervalSet> {
    proptest::collection::vec((any::<u32>(), 0u32..33, any::<bool>(), any::<u32>()), 1..12)
        .prop_map(|v| {
            set(v
                .into_iter()
                .map(|(a, len, range, b)| {
                    if range {
                        let (lo, hi) = (a.min(b), a.max(b));
                        (u128::from(lo), u128::from(hi))
                    } else {
                        let lo = u128::from(a) & !host_mask(32, len);
                        (lo, lo | host_mask(32, len))
                    }
                })
                .collect())
        })
}

fn arb_v6_set() -> impl Strategy<Value = IntervalSet> {
    proptest::collection::vec((any::<u128>(), 0u32..129, any::<u128>()), 1..8).prop_map(|v| {
        set(v
            .into_iter()
            .enumerate()
            .map(|(i, (a, len, b))| {
                if i % 2 == 0 {
                    (a.min(b), a.max(b))
                } else {
                    let lo = a & !host_mask(128, len);
                    (lo, lo | host_mask(128, len))
                }
            })
            .collect())
    })
}

proptest! {
    #[test]
    fn ip_encode_parse_round_trip(a in arb_v4_set(), b in arb_v6_set()) {
        let (c4, c6) = (Choice::Set(a), Choice::Set(b));
        let der = encode_ip_addr_blocks(Some(&c4), Some(&c6)).unwrap();
        let (p4, p6) = parse_ip_addr_blocks(&der).unwrap();
        prop_assert_eq!(p4.as_ref(), Some(&c4));
        prop_assert_eq!(p6.as_ref(), Some(&c6));
        // Re-encoding what was parsed gives the same bytes (one canonical form).
        prop_assert_eq!(encode_ip_addr_blocks(p4.as_ref(), p6.as_ref()).unwrap(), der);
    }

    #[test]
    fn as_encode_parse_round_trip(v in proptest::collection::vec((any::<u32>(), 0u32..1000), 1..20)) {
        let s = set(v.into_iter().map(|(a, l)| (u128::from(a), u128::from(a.saturating_add(l)))).collect());
        let c = Choice::Set(s);
        let der = encode_as_identifiers(&c).unwrap();
        prop_assert_eq!(parse_as_identifiers(&der).unwrap(), c);
    }

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_ip_addr_blocks(&data);
        let _ = parse_as_identifiers(&data);
    }
}
