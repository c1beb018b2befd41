//! Errors of the DER layer. Every error names *where* (byte offset into the
//! outermost input) and *what* (a field path such as
//! `CertificationRequest.certificationRequestInfo.subjectPKInfo`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DerErrorKind {
    /// The input ends before the announced length.
    Truncated,
    /// Indefinite length (0x80): BER only, never DER (X.690 §10.1).
    IndefiniteLength,
    /// A length encoded in more octets than needed, or long form for < 128 (X.690 §10.1).
    NonMinimalLength,
    /// A length that needs more than 4 octets: far past anything porthos accepts.
    LengthTooLarge,
    /// Bytes left after the outermost value (or inside a constructed value).
    TrailingBytes,
    /// A different tag than the structure requires.
    UnexpectedTag { expected: u8, found: u8 },
    /// High-tag-number form (tag number >= 31): never used in X.509.
    UnsupportedTag,
    /// Constructed values nested deeper than [`crate::der::MAX_DEPTH`].
    TooDeep,
    /// The value is well-formed DER but not a valid value of its type.
    InvalidValue(&'static str),
    /// An encoder was given a value it cannot represent.
    Unencodable(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError {
    pub kind: DerErrorKind,
    /// Byte offset of the offending TLV (or byte) in the outermost input.
    pub offset: usize,
    /// Dotted field path, most general first.
    pub path: String,
}

impl DerError {
    pub fn new(kind: DerErrorKind, offset: usize, path: impl Into<String>) -> Self {
        DerError {
            kind,
            offset,
            path: path.into(),
        }
    }

    /// Prefix the path with an enclosing field name (callers add context on the way out).
    pub fn within(mut self, outer: &str) -> Self {
        self.path = if self.path.is_empty() {
            outer.to_string()
        } else {
            format!("{outer}.{}", self.path)
        };
        self
    }
}

impl fmt::Display for DerErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DerErrorKind::Truncated => write!(f, "truncated input"),
            DerErrorKind::IndefiniteLength => write!(f, "indefinite length (BER, not DER)"),
            DerErrorKind::NonMinimalLength => write!(f, "non-minimal length encoding"),
            DerErrorKind::LengthTooLarge => write!(f, "length too large"),
            DerErrorKind::TrailingBytes => write!(f, "trailing bytes"),
            DerErrorKind::UnexpectedTag { expected, found } => {
                write!(f, "expected tag 0x{expected:02x}, found 0x{found:02x}")
            }
            DerErrorKind::UnsupportedTag => write!(f, "high-tag-number form not supported"),
            DerErrorKind::TooDeep => write!(f, "nesting too deep"),
            DerErrorKind::InvalidValue(what) => write!(f, "invalid value: {what}"),
            DerErrorKind::Unencodable(what) => write!(f, "cannot encode: {what}"),
        }
    }
}

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)?;
        if !self.path.is_empty() {
            write!(f, " in {}", self.path)?;
        }
        Ok(())
    }
}

impl std::error::Error for DerError {}
