//! ROA eContent (RFC 9582 §4): one origin AS and the prefixes it may announce.
//!
//! ```text
//! RouteOriginAttestation ::= SEQUENCE {
//!   version [0] INTEGER DEFAULT 0,                       -- §4.1: 0, so omitted (DER)
//!   asID ASID,                                           -- §4.2: INTEGER (0..4294967295)
//!   ipAddrBlocks SEQUENCE (SIZE(1..2)) OF ROAIPAddressFamily }
//! ROAIPAddressFamily ::= SEQUENCE { addressFamily OCTET STRING (SIZE(2)),  -- §4.3.1
//!                                   addresses SEQUENCE (SIZE(1..MAX)) OF ROAIPAddress }
//! ROAIPAddress ::= SEQUENCE { address BIT STRING, maxLength INTEGER OPTIONAL }
//! ```
//! Canonical form (§4.3.3): IPv4 before IPv6; within a family the addresses sorted
//! by address, then prefix length, then maxLength, without duplicates; a maxLength
//! equal to the prefix length is the same statement as no maxLength and is written
//! as none. The encoder canonicalises its input; the parser accepts only that form.

use super::rfc3779::{host_mask, Afi};
use crate::der::reader::Reader;
use crate::der::{tag, writer};
use crate::error::{DerError, DerErrorKind};

/// One ROAIPAddress: a prefix and the longest announcement it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoaPrefix {
    pub afi: Afi,
    /// The address as an integer of the family's width (host bits zero).
    pub address: u128,
    pub length: u8,
    /// `None`: only `length` itself (§4.3.2).
    pub max_length: Option<u8>,
}

impl RoaPrefix {
    /// The maxLength that takes effect (the prefix length when absent).
    pub fn effective_max(&self) -> u8 {
        self.max_length.unwrap_or(self.length)
    }

    fn check(&self, path: &str) -> Result<(), DerError> {
        let bad = |what| Err(DerError::new(DerErrorKind::Unencodable(what), 0, path));
        let width = self.afi.bits();
        if u32::from(self.length) > width {
            return bad("prefix longer than the address");
        }
        if self.address > self.afi.max() || self.address & host_mask(width, self.length.into()) != 0
        {
            return bad("address has bits set past the prefix length");
        }
        if let Some(m) = self.max_length {
            // §4.3.2: maxLength no smaller than the prefix, no larger than the family.
            if m < self.length || u32::from(m) > width {
                return bad("maxLength outside prefix length ..= address width (RFC 9582 §4.3.2)");
            }
        }
        Ok(())
    }
}

/// A ROA's content: the origin AS and its prefixes in canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roa {
    pub asn: u32,
    pub prefixes: Vec<RoaPrefix>,
}

/// Sort key of §4.3.3 with maxLength normalised.
fn normalise(mut p: RoaPrefix) -> RoaPrefix {
    if p.max_length == Some(p.length) {
        p.max_length = None;
    }
    p
}

fn push_prefix(out: &mut Vec<u8>, p: &RoaPrefix) {
    let width = p.afi.bits();
    let len = u32::from(p.length);
    let nbytes = len.div_ceil(8) as usize;
    let aligned = if width == 128 {
        p.address
    } else {
        p.address << (128 - width)
    };
    let mut addr = Vec::with_capacity(nbytes + 3);
    writer::write_header(&mut addr, tag::BIT_STRING, nbytes + 1);
    addr.push((nbytes as u32 * 8 - len) as u8);
    addr.extend_from_slice(&aligned.to_be_bytes()[..nbytes]);
    if let Some(m) = p.max_length {
        addr.extend(writer::integer_u64(u64::from(m)));
    }
    writer::push_tlv(out, tag::SEQUENCE, &addr);
}

/// Encode the RouteOriginAttestation for `asn` and `prefixes` (any order, duplicates
/// allowed: the output is canonical). At least one prefix.
pub fn encode_roa(asn: u32, prefixes: &[RoaPrefix]) -> Result<Vec<u8>, DerError> {
    if prefixes.is_empty() {
        return Err(DerError::new(
            DerErrorKind::Unencodable("a ROA needs at least one prefix (RFC 9582 §4.3)"),
            0,
            "ipAddrBlocks",
        ));
    }
    let mut ps: Vec<RoaPrefix> = Vec::with_capacity(prefixes.len());
    for (i, p) in prefixes.iter().enumerate() {
        p.check(&format!("prefixes[{i}]"))?;
        ps.push(normalise(*p));
    }
    // Derived Ord: afi (IPv4 first), address, length, maxLength (None first).
    ps.sort_unstable();
    ps.dedup();
    let mut blocks = Vec::new();
    for afi in [Afi::Ipv4, Afi::Ipv6] {
        let mut addrs = Vec::new();
        for p in ps.iter().filter(|p| p.afi == afi) {
            push_prefix(&mut addrs, p);
        }
        if addrs.is_empty() {
            continue;
        }
        let mut fam = writer::tlv(tag::OCTET_STRING, &afi.octets());
        writer::push_tlv(&mut fam, tag::SEQUENCE, &addrs);
        writer::push_tlv(&mut blocks, tag::SEQUENCE, &fam);
    }
    let mut body = writer::integer_u64(u64::from(asn));
    writer::push_tlv(&mut body, tag::SEQUENCE, &blocks);
    Ok(writer::tlv(tag::SEQUENCE, &body))
}

fn invalid(what: &'static str, offset: usize, path: &str) -> DerError {
    DerError::new(DerErrorKind::InvalidValue(what), offset, path)
}

fn read_small(r: &mut Reader<'_>, max: u64, path: &str) -> Result<u64, DerError> {
    let at = r.offset();
    let b = r.read_integer_bytes(path)?;
    if b[0] & 0x80 != 0 || b.len() > 5 {
        return Err(invalid("integer out of range", at, path));
    }
    let v = b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
    if v > max {
        return Err(invalid("integer out of range", at, path));
    }
    Ok(v)
}

/// Parse a RouteOriginAttestation strictly: version absent (0 is the DEFAULT, so DER
/// omits it), canonical order, no duplicates, maxLength within bounds and never
/// equal to the prefix length.
pub fn parse_roa(der: &[u8]) -> Result<Roa, DerError> {
    const P: &str = "RouteOriginAttestation";
    let mut top = Reader::new(der);
    let (_, mut seq) = top.enter(tag::SEQUENCE, P)?;
    top.finish(P)?;
    if seq.peek_tag() == Some(tag::context_constructed(0)) {
        return Err(invalid(
            "version present: DER omits the DEFAULT 0 (RFC 9582 §4.1)",
            seq.offset(),
            P,
        ));
    }
    let asn = read_small(&mut seq, u64::from(u32::MAX), "RouteOriginAttestation.asID")? as u32;
    let (_, mut blocks) = seq.enter(tag::SEQUENCE, "RouteOriginAttestation.ipAddrBlocks")?;
    seq.finish(P)?;
    let mut prefixes: Vec<RoaPrefix> = Vec::new();
    let mut last_afi: Option<Afi> = None;
    while !blocks.is_empty() {
        let path = "RouteOriginAttestation.ipAddrBlocks";
        let at = blocks.offset();
        let (_, mut fam) = blocks.enter(tag::SEQUENCE, path)?;
        let af = fam.expect(tag::OCTET_STRING, path)?;
        let afi = Afi::from_octets(af.value).ok_or_else(|| {
            invalid(
                "addressFamily is not IPv4 or IPv6 (RFC 9582 §4.3.1)",
                af.offset,
                path,
            )
        })?;
        if last_afi.is_some_and(|l| l >= afi) {
            return Err(invalid(
                "address families repeated or out of order (RFC 9582 §4.3.3)",
                at,
                path,
            ));
        }
        last_afi = Some(afi);
        let fpath = format!("{path}.{}", afi.name());
        let (_, mut addrs) = fam.enter(tag::SEQUENCE, &fpath)?;
        fam.finish(&fpath)?;
        let first = prefixes.len();
        while !addrs.is_empty() {
            let p = format!("{fpath}[{}]", prefixes.len() - first);
            let at = addrs.offset();
            let (_, mut ra) = addrs.enter(tag::SEQUENCE, &p)?;
            let bs = ra.expect(tag::BIT_STRING, &p)?;
            let (&unused, bytes) = bs
                .value
                .split_first()
                .ok_or_else(|| invalid("empty BIT STRING", bs.offset, &p))?;
            let width = afi.bits();
            let len = (bytes.len() as u32 * 8).saturating_sub(u32::from(unused));
            if unused > 7 || (bytes.is_empty() && unused != 0) || len > width {
                return Err(invalid("bad prefix BIT STRING", bs.offset, &p));
            }
            if bytes
                .last()
                .is_some_and(|&l| l & ((1u8 << unused) - 1) != 0)
            {
                return Err(invalid(
                    "non-zero padding bits (X.690 §11.2.1)",
                    bs.offset,
                    &p,
                ));
            }
            let mut buf = [0u8; 16];
            buf[..bytes.len()].copy_from_slice(bytes);
            let aligned = u128::from_be_bytes(buf);
            let address = if width == 128 {
                aligned
            } else {
                aligned >> (128 - width)
            };
            let max_length = if ra.is_empty() {
                None
            } else {
                Some(read_small(&mut ra, u64::from(width), &format!("{p}.maxLength"))? as u8)
            };
            ra.finish(&p)?;
            let rp = RoaPrefix {
                afi,
                address,
                length: len as u8,
                max_length,
            };
            if max_length.is_some_and(|m| u32::from(m) < len) {
                return Err(invalid(
                    "maxLength below the prefix length (RFC 9582 §4.3.2)",
                    at,
                    &p,
                ));
            }
            if max_length == Some(len as u8) {
                return Err(invalid(
                    "maxLength equal to the prefix length is written as absent",
                    at,
                    &p,
                ));
            }
            if prefixes.len() > first && prefixes.last().is_some_and(|l| *l >= rp) {
                return Err(invalid(
                    "addresses not sorted or duplicated (RFC 9582 §4.3.3)",
                    at,
                    &p,
                ));
            }
            prefixes.push(rp);
        }
        if prefixes.len() == first {
            return Err(invalid("empty addresses (RFC 9582 §4.3)", at, &fpath));
        }
    }
    if prefixes.is_empty() {
        return Err(invalid("empty ipAddrBlocks (RFC 9582 §4.3)", 0, P));
    }
    Ok(Roa { asn, prefixes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], len: u8, max: Option<u8>) -> RoaPrefix {
        RoaPrefix {
            afi: Afi::Ipv4,
            address: u32::from_be_bytes(a).into(),
            length: len,
            max_length: max,
        }
    }

    #[test]
    fn canonical_order_and_dedup() {
        let v6 = RoaPrefix {
            afi: Afi::Ipv6,
            address: 0x2001_0db8u128 << 96,
            length: 32,
            max_length: Some(48),
        };
        let input = [
            v6,
            v4([10, 0, 0, 0], 24, Some(24)),
            v4([10, 0, 0, 0], 8, None),
            v4([10, 0, 0, 0], 24, None),
        ];
        let der = encode_roa(64496, &input).unwrap();
        let roa = parse_roa(&der).unwrap();
        assert_eq!(roa.asn, 64496);
        assert_eq!(
            roa.prefixes,
            vec![v4([10, 0, 0, 0], 8, None), v4([10, 0, 0, 0], 24, None), v6]
        );
        // asID 64496 = 02 03 00 fb f0; then ipAddrBlocks
        assert_eq!(&der[2..7], &[0x02, 0x03, 0x00, 0xfb, 0xf0]);
    }

    proptest::proptest! {
        /// Any order and any duplicates of the same prefixes give the same canonical
        /// bytes, and the parser returns exactly the sorted, deduplicated set.
        #[test]
        fn canonical_whatever_the_input_order(
            raw in proptest::collection::vec((proptest::bool::ANY, proptest::num::u128::ANY, 0u8..=128, 0u8..=128), 1..10),
            asn in proptest::num::u32::ANY,
        ) {
            let ps: Vec<RoaPrefix> = raw
                .iter()
                .map(|&(v6, a, len, extra)| {
                    let afi = if v6 { Afi::Ipv6 } else { Afi::Ipv4 };
                    let len = len.min(afi.bits() as u8);
                    let addr = (a & afi.max()) & !host_mask(afi.bits(), len.into());
                    let max = len.saturating_add(extra % 8).min(afi.bits() as u8);
                    RoaPrefix { afi, address: addr, length: len, max_length: (extra % 3 != 0).then_some(max) }
                })
                .collect();
            let der = encode_roa(asn, &ps).unwrap();
            let mut rev = ps.clone();
            rev.reverse();
            rev.extend_from_slice(&ps);
            proptest::prop_assert_eq!(&encode_roa(asn, &rev).unwrap(), &der);
            let back = parse_roa(&der).unwrap();
            let mut want: Vec<RoaPrefix> = ps.into_iter().map(normalise).collect();
            want.sort();
            want.dedup();
            proptest::prop_assert_eq!(back.prefixes, want);
            proptest::prop_assert_eq!(back.asn, asn);
        }
    }

    #[test]
    fn refused() {
        assert!(encode_roa(1, &[]).is_err());
        assert!(
            encode_roa(1, &[v4([10, 0, 0, 1], 24, None)]).is_err(),
            "host bits"
        );
        assert!(
            encode_roa(1, &[v4([10, 0, 0, 0], 24, Some(23))]).is_err(),
            "maxLength < len"
        );
        assert!(
            encode_roa(1, &[v4([10, 0, 0, 0], 24, Some(33))]).is_err(),
            "maxLength > 32"
        );
        // Unsorted by hand: two v4 families out of order in the DER.
        let a = encode_roa(1, &[v4([10, 0, 0, 0], 8, None)]).unwrap();
        let b = encode_roa(1, &[v4([10, 0, 0, 0], 8, None), v4([11, 0, 0, 0], 8, None)]).unwrap();
        assert!(parse_roa(&a).is_ok() && parse_roa(&b).is_ok());
        let mut swapped = b.clone();
        let n = swapped.len();
        // The two ROAIPAddress SEQUENCEs (30 04 03 02 00 0a) are the last 2 × 6
        // octets; swap them.
        let (x, y) = (swapped[n - 12..n - 6].to_vec(), swapped[n - 6..].to_vec());
        swapped[n - 12..n - 6].copy_from_slice(&y);
        swapped[n - 6..].copy_from_slice(&x);
        assert!(parse_roa(&swapped).is_err());
    }
}
