//! SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) with the key types porthos signs for.
//!
//! Parsing decides only the *structure* and the key type; whether the key itself is
//! usable (point on the curve, modulus size) is [`crate::verify`]'s job, so a CSR with
//! a weak key still parses and can be reported precisely.

use crate::der::reader::{check_integer, Reader, Tlv};
use crate::der::tag;
use crate::error::{DerError, DerErrorKind};
use crate::x509::oids;

/// Key algorithm of a SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeyType {
    /// Any algorithm or curve porthos does not handle (not an error by itself).
    Unknown = 0,
    /// id-ecPublicKey on secp256r1 (RFC 5480 §2.1.1.1).
    EcP256 = 1,
    /// id-ecPublicKey on secp384r1 (RFC 5480 §2.1.1.1).
    EcP384 = 2,
    /// rsaEncryption (RFC 3279 §2.3.1).
    Rsa = 3,
    /// id-Ed25519 (RFC 8410 §3).
    Ed25519 = 4,
}

impl KeyType {
    /// Every key type, in code order (porthos.status.KeyType; exported to Python as
    /// `_native.KEY_TYPE`, and a test holds the two equal).
    pub const ALL: [KeyType; 5] = [
        KeyType::Unknown,
        KeyType::EcP256,
        KeyType::EcP384,
        KeyType::Rsa,
        KeyType::Ed25519,
    ];

    /// The name of the member of porthos.status.KeyType with this code.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Unknown => "UNKNOWN",
            KeyType::EcP256 => "EC_P256",
            KeyType::EcP384 => "EC_P384",
            KeyType::Rsa => "RSA",
            KeyType::Ed25519 => "ED25519",
        }
    }
}

/// A parsed SubjectPublicKeyInfo, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKeyInfo<'a> {
    /// The whole SubjectPublicKeyInfo TLV.
    pub der: &'a [u8],
    /// The key algorithm.
    pub key_type: KeyType,
    /// 256 / 384 for EC, modulus bit length for RSA, 256 for Ed25519, 0 when unknown.
    pub key_bits: u32,
    /// The subjectPublicKey BIT STRING payload (without the unused-bits octet).
    pub subject_public_key: &'a [u8],
}

/// Parse a SubjectPublicKeyInfo that must span exactly `der`.
pub fn parse_spki(der: &[u8]) -> Result<PublicKeyInfo<'_>, DerError> {
    let mut r = Reader::new(der);
    let tlv = r.expect(tag::SEQUENCE, "SubjectPublicKeyInfo")?;
    r.finish("SubjectPublicKeyInfo")?;
    parse_spki_in(&r, &tlv).map_err(|e| e.within("SubjectPublicKeyInfo"))
}

/// Parse a SubjectPublicKeyInfo TLV read by `parent` (offsets stay absolute).
/// Error paths are relative to the SubjectPublicKeyInfo.
pub fn parse_spki_in<'a>(
    parent: &Reader<'a>,
    spki: &Tlv<'a>,
) -> Result<PublicKeyInfo<'a>, DerError> {
    if spki.tag != tag::SEQUENCE {
        let kind = DerErrorKind::UnexpectedTag {
            expected: tag::SEQUENCE,
            found: spki.tag,
        };
        return Err(DerError::new(kind, spki.offset, ""));
    }
    let mut fields = parent.nested(spki)?;
    let (_, mut alg) = fields.enter(tag::SEQUENCE, "algorithm")?;
    let key = fields.read_bit_string("subjectPublicKey")?;
    fields.finish("")?;

    let alg_oid = alg.read_oid("algorithm.algorithm")?;
    let params = if alg.is_empty() {
        None
    } else {
        Some(
            alg.read_tlv()
                .map_err(|e| e.within("algorithm.parameters"))?,
        )
    };
    alg.finish("algorithm")?;

    let (key_type, key_bits) = if alg_oid == oids::EC_PUBLIC_KEY {
        // ECParameters ::= CHOICE { namedCurve OID, implicitCurve NULL, specifiedCurve
        // SEQUENCE }; RFC 5480 §2.1.1 allows only namedCurve. Anything else, or a
        // curve we do not sign for, is Unknown rather than malformed.
        match params {
            Some(p) if p.tag == tag::OID => {
                crate::der::reader::check_oid(&p).map_err(|e| e.within("algorithm.parameters"))?;
                match p.value {
                    v if v == oids::SECP256R1 => (KeyType::EcP256, 256),
                    v if v == oids::SECP384R1 => (KeyType::EcP384, 384),
                    _ => (KeyType::Unknown, 0),
                }
            }
            Some(p) => {
                crate::der::reader::validate_tree(&alg, &p)
                    .map_err(|e| e.within("algorithm.parameters"))?;
                (KeyType::Unknown, 0)
            }
            None => (KeyType::Unknown, 0),
        }
    } else if alg_oid == oids::RSA_ENCRYPTION {
        // RFC 3279 §2.3.1: the parameters MUST be present and MUST be NULL.
        match params {
            Some(p) if p.tag == tag::NULL && p.value.is_empty() => {}
            _ => {
                return Err(invalid(
                    "rsaEncryption parameters must be NULL",
                    spki.offset,
                    "algorithm.parameters",
                ))
            }
        }
        let bits = rsa_modulus_bits(key, key_offset(spki, key))
            .map_err(|e| e.within("subjectPublicKey"))?;
        (KeyType::Rsa, bits)
    } else if alg_oid == oids::ED25519 {
        // RFC 8410 §3: parameters MUST be absent; the key is the 32-byte encoding.
        if params.is_some() {
            return Err(invalid(
                "Ed25519 parameters must be absent",
                spki.offset,
                "algorithm.parameters",
            ));
        }
        if key.len() != 32 {
            return Err(invalid(
                "Ed25519 key must be 32 bytes",
                spki.offset,
                "subjectPublicKey",
            ));
        }
        (KeyType::Ed25519, 256)
    } else {
        if let Some(p) = params {
            crate::der::reader::validate_tree(&alg, &p)
                .map_err(|e| e.within("algorithm.parameters"))?;
        }
        (KeyType::Unknown, 0)
    };
    Ok(PublicKeyInfo {
        der: spki.raw,
        key_type,
        key_bits,
        subject_public_key: key,
    })
}

fn invalid(what: &'static str, offset: usize, path: &str) -> DerError {
    DerError::new(DerErrorKind::InvalidValue(what), offset, path)
}

/// Absolute offset of `key` (a sub-slice of `spki.raw`).
fn key_offset(spki: &Tlv<'_>, key: &[u8]) -> usize {
    spki.offset + (key.as_ptr() as usize - spki.raw.as_ptr() as usize)
}

/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1).
/// Returns the modulus bit length; a negative, zero or non-minimal modulus or
/// exponent is malformed.
fn rsa_modulus_bits(key: &[u8], base: usize) -> Result<u32, DerError> {
    let mut r = Reader::with_base(key, base);
    let (_, mut seq) = r.enter(tag::SEQUENCE, "RSAPublicKey")?;
    r.finish("RSAPublicKey")?;
    let mut positive = |path: &str| -> Result<&[u8], DerError> {
        let t = seq.expect(tag::INTEGER, path)?;
        check_integer(&t).map_err(|e| e.within(path))?;
        if t.value[0] & 0x80 != 0 || t.value == [0] {
            return Err(invalid("RSA integer must be positive", t.offset, path));
        }
        Ok(t.value)
    };
    let modulus = positive("RSAPublicKey.modulus")?;
    positive("RSAPublicKey.publicExponent")?;
    seq.finish("RSAPublicKey")?;
    let m = if modulus[0] == 0 {
        &modulus[1..]
    } else {
        modulus
    };
    let bits = (m.len() as u64) * 8 - u64::from(m[0].leading_zeros());
    // A 4-octet DER length caps the modulus far below u32::MAX bits.
    Ok(u32::try_from(bits).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(t: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![t];
        if content.len() < 128 {
            v.push(content.len() as u8);
        } else if content.len() < 256 {
            v.extend([0x81, content.len() as u8]);
        } else {
            v.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        v.extend_from_slice(content);
        v
    }

    fn spki(alg: &[u8], key: &[u8]) -> Vec<u8> {
        tlv(
            tag::SEQUENCE,
            &[
                tlv(tag::SEQUENCE, alg),
                tlv(tag::BIT_STRING, &[&[0u8][..], key].concat()),
            ]
            .concat(),
        )
    }

    fn ec(curve: &[u8]) -> Vec<u8> {
        spki(
            &[tlv(tag::OID, oids::EC_PUBLIC_KEY), tlv(tag::OID, curve)].concat(),
            &[4; 65],
        )
    }

    fn rsa(modulus: &[u8]) -> Vec<u8> {
        let key = tlv(
            tag::SEQUENCE,
            &[tlv(tag::INTEGER, modulus), tlv(tag::INTEGER, &[1, 0, 1])].concat(),
        );
        spki(
            &[tlv(tag::OID, oids::RSA_ENCRYPTION), tlv(tag::NULL, &[])].concat(),
            &key,
        )
    }

    #[test]
    fn key_types() {
        let p256 = ec(oids::SECP256R1);
        let k = parse_spki(&p256).unwrap();
        assert_eq!(
            (
                k.key_type,
                k.key_bits,
                k.subject_public_key.len(),
                k.der.len()
            ),
            (KeyType::EcP256, 256, 65, p256.len())
        );
        assert_eq!(
            parse_spki(&ec(oids::SECP384R1)).unwrap().key_type,
            KeyType::EcP384
        );
        // secp521r1: a curve we do not sign for is Unknown, not an error.
        assert_eq!(
            parse_spki(&ec(&[0x2b, 0x81, 0x04, 0x00, 0x23]))
                .unwrap()
                .key_type,
            KeyType::Unknown
        );
        // implicitCurve (NULL) and specifiedCurve (SEQUENCE) are Unknown too.
        let implicit = spki(
            &[tlv(tag::OID, oids::EC_PUBLIC_KEY), tlv(tag::NULL, &[])].concat(),
            &[4; 65],
        );
        assert_eq!(parse_spki(&implicit).unwrap().key_type, KeyType::Unknown);

        let mut m = vec![0x00, 0xc0];
        m.extend([0x11; 255]); // 256 octets of magnitude, top bits 11 -> 2048 bits
        let rsa_der = rsa(&m);
        let k = parse_spki(&rsa_der).unwrap();
        assert_eq!((k.key_type, k.key_bits), (KeyType::Rsa, 2048));
        assert_eq!(parse_spki(&rsa(&[0x00, 0x80, 1])).unwrap().key_bits, 16);
        assert_eq!(parse_spki(&rsa(&[0x01, 0x00])).unwrap().key_bits, 9);

        let ed = spki(&tlv(tag::OID, oids::ED25519), &[9; 32]);
        assert_eq!(parse_spki(&ed).unwrap().key_type, KeyType::Ed25519);
        let unknown = spki(
            &[tlv(tag::OID, &[0x2a, 3]), tlv(tag::SEQUENCE, &[])].concat(),
            &[1, 2],
        );
        assert_eq!(
            parse_spki(&unknown).unwrap(),
            PublicKeyInfo {
                der: &unknown,
                key_type: KeyType::Unknown,
                key_bits: 0,
                subject_public_key: &[1, 2]
            }
        );
    }

    #[test]
    fn malformed_keys() {
        assert!(parse_spki(&rsa(&[0x80, 1])).is_err(), "negative modulus");
        assert!(
            parse_spki(&rsa(&[0x00, 0x01])).is_err(),
            "non-minimal modulus"
        );
        assert!(parse_spki(&rsa(&[0x00])).is_err(), "zero modulus");
        let absent = spki(
            &tlv(tag::OID, oids::RSA_ENCRYPTION),
            &tlv(tag::SEQUENCE, &[]),
        );
        assert!(parse_spki(&absent).is_err(), "RSA parameters absent");
        let ed_params = spki(
            &[tlv(tag::OID, oids::ED25519), tlv(tag::NULL, &[])].concat(),
            &[9; 32],
        );
        assert!(parse_spki(&ed_params).is_err());
        assert!(parse_spki(&spki(&tlv(tag::OID, oids::ED25519), &[9; 31])).is_err());
        let mut trailing = ec(oids::SECP256R1);
        trailing.push(0);
        assert_eq!(
            parse_spki(&trailing).unwrap_err().kind,
            DerErrorKind::TrailingBytes
        );
        // Unused bits in the key BIT STRING.
        let mut bits = ec(oids::SECP256R1);
        let pos = bits.len() - 66;
        assert_eq!(bits[pos], 0);
        bits[pos] = 1;
        assert!(parse_spki(&bits).is_err());
    }

    #[test]
    fn error_offsets_are_absolute() {
        // The modulus INTEGER is negative; its error must point inside the SPKI.
        let der = rsa(&[0x80, 1]);
        let e = parse_spki(&der).unwrap_err();
        assert_eq!(der[e.offset], tag::INTEGER);
        assert!(e.path.contains("modulus"), "{e}");
    }
}
