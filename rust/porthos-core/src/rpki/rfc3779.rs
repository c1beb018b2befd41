//! RFC 3779 IP address delegation (§2) and AS identifier delegation (§3)
//! extensions, restricted to the RPKI profile (RFC 6487 §4.8.10, §4.8.11): no SAFI,
//! no RDI, always critical.
//!
//! ```text
//! IPAddrBlocks ::= SEQUENCE OF IPAddressFamily
//! IPAddressFamily ::= SEQUENCE { addressFamily OCTET STRING (SIZE (2..3)),
//!                                ipAddressChoice IPAddressChoice }
//! IPAddressChoice ::= CHOICE { inherit NULL, addressesOrRanges SEQUENCE OF IPAddressOrRange }
//! IPAddressOrRange ::= CHOICE { addressPrefix IPAddress,
//!                               addressRange SEQUENCE { min IPAddress, max IPAddress } }
//! IPAddress ::= BIT STRING
//! ASIdentifiers ::= SEQUENCE { asnum [0] EXPLICIT ASIdentifierChoice OPTIONAL,
//!                              rdi   [1] EXPLICIT ASIdentifierChoice OPTIONAL }
//! ASIdentifierChoice ::= CHOICE { inherit NULL, asIdsOrRanges SEQUENCE OF ASIdOrRange }
//! ASIdOrRange ::= CHOICE { id INTEGER, range SEQUENCE { min INTEGER, max INTEGER } }
//! ```
//!
//! The writer emits only the canonical form (§2.2.3.6, §3.2.3.4): families in
//! ascending AFI order (IPv4 before IPv6), intervals sorted and merged, an interval
//! that is exactly one prefix written as addressPrefix, range bounds with trailing
//! zero (min) or one (max) bits removed (§2.1.2). The parser accepts only that form,
//! so "parse succeeded" means "a CA would have written exactly these bytes".

use super::intervals::IntervalSet;
use crate::der::reader::Reader;
use crate::der::{tag, writer};
use crate::error::{DerError, DerErrorKind};
use crate::x509::ext;

/// id-pe-ipAddrBlocks 1.3.6.1.5.5.7.1.7 (RFC 3779 §2.2.1).
pub const ID_PE_IP_ADDR_BLOCKS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x07];
/// id-pe-autonomousSysIds 1.3.6.1.5.5.7.1.8 (RFC 3779 §3.2.1).
pub const ID_PE_AUTONOMOUS_SYS_IDS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x08];

/// An address family of the RPKI (RFC 3779 §2.2.3.3, IANA AFI 1 and 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Afi {
    Ipv4,
    Ipv6,
}

impl Afi {
    /// Address width in bits.
    pub const fn bits(self) -> u32 {
        match self {
            Afi::Ipv4 => 32,
            Afi::Ipv6 => 128,
        }
    }
    /// The two addressFamily octets.
    pub const fn octets(self) -> [u8; 2] {
        match self {
            Afi::Ipv4 => [0, 1],
            Afi::Ipv6 => [0, 2],
        }
    }
    pub fn from_octets(o: &[u8]) -> Option<Afi> {
        match o {
            [0, 1] => Some(Afi::Ipv4),
            [0, 2] => Some(Afi::Ipv6),
            _ => None,
        }
    }
    /// Highest address of the family.
    pub const fn max(self) -> u128 {
        match self {
            Afi::Ipv4 => u32::MAX as u128,
            Afi::Ipv6 => u128::MAX,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            Afi::Ipv4 => "ipv4",
            Afi::Ipv6 => "ipv6",
        }
    }
}

/// What one family (or the AS numbers) of a certificate carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `inherit`: the issuer's resources of this kind (RFC 3779 §2.2.3.5, §3.2.3.3).
    Inherit,
    /// Explicit resources, never empty.
    Set(IntervalSet),
}

/// The resources of one certificate: each kind absent, inherited or explicit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertResources {
    pub asn: Option<Choice>,
    pub ipv4: Option<Choice>,
    pub ipv6: Option<Choice>,
}

fn unencodable(what: &'static str, path: &str) -> DerError {
    DerError::new(DerErrorKind::Unencodable(what), 0, path)
}

fn invalid(what: &'static str, offset: usize, path: &str) -> DerError {
    DerError::new(DerErrorKind::InvalidValue(what), offset, path)
}

/// Mask of the host bits of a `len`-bit prefix in an address of `width` bits.
pub fn host_mask(width: u32, len: u32) -> u128 {
    let host = width - len;
    if host >= 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    }
}

/// `Some(length)` when `[lo, hi]` is exactly one prefix of a `width`-bit space.
pub fn as_prefix(lo: u128, hi: u128, width: u32) -> Option<u32> {
    let x = lo ^ hi;
    // x must be 0…01…1 with lo's bits under it all zero (and hi's all one).
    if x & x.wrapping_add(1) != 0 || lo & x != 0 {
        return None;
    }
    Some(width - x.count_ones())
}

/// Append the BIT STRING of the top `len` bits of `value` (a `width`-bit address):
/// ceil(len/8) octets, the unused bits zero (X.690 §11.2.1).
fn push_address(out: &mut Vec<u8>, value: u128, len: u32, width: u32) {
    let nbytes = len.div_ceil(8) as usize;
    let unused = (nbytes as u32 * 8 - len) as u8;
    let aligned = if width == 128 {
        value
    } else {
        value << (128 - width)
    };
    let cleared = aligned & !host_mask(128, len);
    writer::write_header(out, tag::BIT_STRING, nbytes + 1);
    out.push(unused);
    out.extend_from_slice(&cleared.to_be_bytes()[..nbytes]);
}

/// One interval as addressPrefix, or addressRange with minimal bounds (§2.1.2).
fn push_interval(out: &mut Vec<u8>, lo: u128, hi: u128, width: u32) {
    if let Some(len) = as_prefix(lo, hi, width) {
        push_address(out, lo, len, width);
        return;
    }
    // min: trailing zero bits dropped; max: trailing one bits dropped.
    let min_len = if lo == 0 {
        0
    } else {
        width - lo.trailing_zeros().min(width)
    };
    let ones = (!hi).trailing_zeros().min(width);
    let max_len = width - ones;
    let mut body = Vec::with_capacity(40);
    push_address(&mut body, lo, min_len, width);
    push_address(&mut body, hi, max_len, width);
    writer::push_tlv(out, tag::SEQUENCE, &body);
}

fn check_family(set: &IntervalSet, afi: Afi, path: &str) -> Result<(), DerError> {
    if set.is_empty() {
        return Err(unencodable("an explicit resource set is never empty", path));
    }
    if set.max_value().is_some_and(|m| m > afi.max()) {
        return Err(unencodable("address wider than its family", path));
    }
    Ok(())
}

/// The IPAddrBlocks extnValue for the families present (None: family absent).
/// At least one family must be present.
pub fn encode_ip_addr_blocks(
    ipv4: Option<&Choice>,
    ipv6: Option<&Choice>,
) -> Result<Vec<u8>, DerError> {
    let mut families = Vec::new();
    for (afi, choice) in [(Afi::Ipv4, ipv4), (Afi::Ipv6, ipv6)] {
        let Some(choice) = choice else { continue };
        let mut fam = writer::tlv(tag::OCTET_STRING, &afi.octets());
        match choice {
            Choice::Inherit => fam.extend_from_slice(&[tag::NULL, 0]),
            Choice::Set(set) => {
                check_family(set, afi, afi.name())?;
                let mut items = Vec::with_capacity(set.ranges().len() * 8);
                for &(lo, hi) in set.ranges() {
                    push_interval(&mut items, lo, hi, afi.bits());
                }
                writer::push_tlv(&mut fam, tag::SEQUENCE, &items);
            }
        }
        writer::push_tlv(&mut families, tag::SEQUENCE, &fam);
    }
    if families.is_empty() {
        return Err(unencodable(
            "IPAddrBlocks needs at least one family",
            "ipAddrBlocks",
        ));
    }
    Ok(writer::tlv(tag::SEQUENCE, &families))
}

/// The ASIdentifiers extnValue with `asnum` only (RDI is not used in the RPKI,
/// RFC 6487 §4.8.11).
pub fn encode_as_identifiers(asnum: &Choice) -> Result<Vec<u8>, DerError> {
    let choice = match asnum {
        Choice::Inherit => vec![tag::NULL, 0],
        Choice::Set(set) => {
            if set.is_empty() {
                return Err(unencodable(
                    "an explicit resource set is never empty",
                    "asnum",
                ));
            }
            if set.max_value().is_some_and(|m| m > u128::from(u32::MAX)) {
                return Err(unencodable("AS number above 4294967295", "asnum"));
            }
            let mut items = Vec::with_capacity(set.ranges().len() * 8);
            for &(lo, hi) in set.ranges() {
                if lo == hi {
                    items.extend(writer::integer_u64(lo as u64));
                } else {
                    let mut r = writer::integer_u64(lo as u64);
                    r.extend(writer::integer_u64(hi as u64));
                    writer::push_tlv(&mut items, tag::SEQUENCE, &r);
                }
            }
            writer::tlv(tag::SEQUENCE, &items)
        }
    };
    let asnum = writer::tlv(tag::context_constructed(0), &choice);
    Ok(writer::tlv(tag::SEQUENCE, &asnum))
}

/// Both extensions (whole Extension TLVs, critical as RFC 6487 §4.8.10/11 require)
/// for the kinds `res` carries; an empty vector for a kind that is absent.
pub fn resource_extensions(res: &CertResources) -> Result<(Vec<u8>, Vec<u8>), DerError> {
    let ip = if res.ipv4.is_some() || res.ipv6.is_some() {
        let v = encode_ip_addr_blocks(res.ipv4.as_ref(), res.ipv6.as_ref())?;
        ext::extension(ID_PE_IP_ADDR_BLOCKS, true, &v)
    } else {
        Vec::new()
    };
    let asn = match &res.asn {
        Some(c) => ext::extension(ID_PE_AUTONOMOUS_SYS_IDS, true, &encode_as_identifiers(c)?),
        None => Vec::new(),
    };
    Ok((ip, asn))
}

/// Decode one IPAddress BIT STRING of a `width`-bit family: (value, bit length).
/// DER: unused bits 0..=7, none in an empty string, padding bits zero.
fn read_address(r: &mut Reader<'_>, width: u32, path: &str) -> Result<(u128, u32), DerError> {
    let t = r.expect(tag::BIT_STRING, path)?;
    let (&unused, bytes) = t
        .value
        .split_first()
        .ok_or_else(|| invalid("empty BIT STRING", t.offset, path))?;
    if unused > 7 || (bytes.is_empty() && unused != 0) {
        return Err(invalid("bad unused-bits count", t.offset, path));
    }
    let len = (bytes.len() as u32 * 8).saturating_sub(u32::from(unused));
    if len > width {
        return Err(invalid("address longer than its family", t.offset, path));
    }
    if let Some(&last) = bytes.last() {
        if last & ((1u8 << unused) - 1) != 0 {
            return Err(invalid(
                "non-zero padding bits (X.690 §11.2.1)",
                t.offset,
                path,
            ));
        }
    }
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    let aligned = u128::from_be_bytes(buf);
    let value = if width == 128 {
        aligned
    } else {
        aligned >> (128 - width)
    };
    Ok((value, len))
}

/// Bit `i` (0 = most significant) of a `width`-bit value.
fn bit(value: u128, i: u32, width: u32) -> bool {
    (value >> (width - 1 - i)) & 1 == 1
}

fn parse_addresses(r: &mut Reader<'_>, afi: Afi, path: &str) -> Result<IntervalSet, DerError> {
    let width = afi.bits();
    let mut v = Vec::new();
    while !r.is_empty() {
        let p = format!("{path}[{}]", v.len());
        let at = r.offset();
        let (lo, hi) = if r.peek_tag() == Some(tag::SEQUENCE) {
            let (_, mut range) = r.enter(tag::SEQUENCE, &p)?;
            let (min, min_len) = read_address(&mut range, width, &format!("{p}.min"))?;
            let (max_bits, max_len) = read_address(&mut range, width, &format!("{p}.max"))?;
            range.finish(&p)?;
            let max = max_bits | host_mask(width, max_len);
            // §2.1.2: the last bit kept of min is a one, of max a zero.
            if min_len > 0 && !bit(min, min_len - 1, width) {
                return Err(invalid("range min keeps a trailing zero bit", at, &p));
            }
            if max_len > 0 && bit(max, max_len - 1, width) {
                return Err(invalid("range max keeps a trailing one bit", at, &p));
            }
            if min > max {
                return Err(invalid("range min above max", at, &p));
            }
            if as_prefix(min, max, width).is_some() {
                return Err(invalid(
                    "range that is a prefix (RFC 3779 §2.2.3.7)",
                    at,
                    &p,
                ));
            }
            (min, max)
        } else {
            let (lo, len) = read_address(r, width, &p)?;
            (lo, lo | host_mask(width, len))
        };
        v.push((lo, hi));
    }
    if v.is_empty() {
        return Err(invalid("empty addressesOrRanges", r.offset(), path));
    }
    IntervalSet::from_canonical(v).ok_or_else(|| {
        invalid(
            "addresses not sorted, overlapping or adjacent (RFC 3779 §2.2.3.6)",
            r.offset(),
            path,
        )
    })
}

/// Parse an IPAddrBlocks extnValue strictly: RPKI families only (no SAFI), each at
/// most once and in order, canonical contents. Returns (IPv4, IPv6).
pub fn parse_ip_addr_blocks(der: &[u8]) -> Result<(Option<Choice>, Option<Choice>), DerError> {
    const P: &str = "IPAddrBlocks";
    let mut top = Reader::new(der);
    let (_, mut fams) = top.enter(tag::SEQUENCE, P)?;
    top.finish(P)?;
    let (mut v4, mut v6) = (None, None);
    let mut last: Option<Afi> = None;
    while !fams.is_empty() {
        let at = fams.offset();
        let (_, mut fam) = fams.enter(tag::SEQUENCE, P)?;
        let af = fam.expect(tag::OCTET_STRING, "IPAddressFamily.addressFamily")?;
        let afi = Afi::from_octets(af.value).ok_or_else(|| {
            invalid(
                "addressFamily is not IPv4 or IPv6 without SAFI (RFC 6487 §4.8.10)",
                af.offset,
                P,
            )
        })?;
        if last.is_some_and(|l| l >= afi) {
            return Err(invalid("address families repeated or out of order", at, P));
        }
        last = Some(afi);
        let path = format!("{P}.{}", afi.name());
        let choice = if fam.peek_tag() == Some(tag::NULL) {
            fam.read_null(&path)?;
            Choice::Inherit
        } else {
            let (_, mut items) = fam.enter(tag::SEQUENCE, &path)?;
            Choice::Set(parse_addresses(&mut items, afi, &path)?)
        };
        fam.finish(&path)?;
        match afi {
            Afi::Ipv4 => v4 = Some(choice),
            Afi::Ipv6 => v6 = Some(choice),
        }
    }
    if last.is_none() {
        return Err(invalid("IPAddrBlocks without a family", 0, P));
    }
    Ok((v4, v6))
}

fn read_asid(r: &mut Reader<'_>, path: &str) -> Result<u128, DerError> {
    let at = r.offset();
    let b = r.read_integer_bytes(path)?;
    if b[0] & 0x80 != 0 || b.len() > 5 || (b.len() == 5 && b[0] != 0) {
        return Err(invalid("AS number outside 0..4294967295", at, path));
    }
    Ok(b.iter().fold(0u128, |a, &x| (a << 8) | u128::from(x)))
}

/// Parse an ASIdentifiers extnValue strictly: asnum required, rdi refused
/// (RFC 6487 §4.8.11), canonical contents.
pub fn parse_as_identifiers(der: &[u8]) -> Result<Choice, DerError> {
    const P: &str = "ASIdentifiers";
    let mut top = Reader::new(der);
    let (_, mut seq) = top.enter(tag::SEQUENCE, P)?;
    top.finish(P)?;
    let (_, mut asnum) = seq.enter(tag::context_constructed(0), "ASIdentifiers.asnum")?;
    if !seq.is_empty() {
        return Err(invalid(
            "rdi is not used in the RPKI (RFC 6487 §4.8.11)",
            seq.offset(),
            P,
        ));
    }
    let path = "ASIdentifiers.asnum";
    let choice = if asnum.peek_tag() == Some(tag::NULL) {
        asnum.read_null(path)?;
        Choice::Inherit
    } else {
        let (_, mut items) = asnum.enter(tag::SEQUENCE, path)?;
        let mut v = Vec::new();
        while !items.is_empty() {
            let p = format!("{path}[{}]", v.len());
            let at = items.offset();
            if items.peek_tag() == Some(tag::SEQUENCE) {
                let (_, mut range) = items.enter(tag::SEQUENCE, &p)?;
                let lo = read_asid(&mut range, &format!("{p}.min"))?;
                let hi = read_asid(&mut range, &format!("{p}.max"))?;
                range.finish(&p)?;
                if lo >= hi {
                    return Err(invalid(
                        "AS range min not below max (RFC 3779 §3.2.3.7)",
                        at,
                        &p,
                    ));
                }
                v.push((lo, hi));
            } else {
                let id = read_asid(&mut items, &p)?;
                v.push((id, id));
            }
        }
        if v.is_empty() {
            return Err(invalid("empty asIdsOrRanges", asnum.offset(), path));
        }
        Choice::Set(IntervalSet::from_canonical(v).ok_or_else(|| {
            invalid(
                "AS numbers not sorted, overlapping or adjacent (RFC 3779 §3.2.3.4)",
                items.offset(),
                path,
            )
        })?)
    };
    asnum.finish(path)?;
    Ok(choice)
}

#[cfg(test)]
mod tests;
