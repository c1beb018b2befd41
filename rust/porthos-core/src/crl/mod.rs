//! Certificate revocation lists (RFC 5280 §5) for lists of millions of entries.
//!
//! * [`columns`]: the input as borrowed columns (no per-entry object), validation,
//!   serial order by sorting an index array.
//! * [`writer`]: two-phase encoder: exact lengths first, then one exact-size buffer
//!   written chunk by chunk while the TBSCertList is hashed; one signature.
//! * [`parser`]: strict DER → metadata + the same columns, signature check, lookup.
//! * [`shard`]: serial → shard (a stable function mod N) and per-shard builds.
//! * [`delta`]: delta CRLs from a base and the current state, merging, checking.
//! * [`revocations_csv`]: the revocation CSV read into columns ([`iso8601`] times).

pub mod columns;
pub mod delta;
pub mod iso8601;
pub mod parser;
pub mod revocations_csv;
pub mod shard;
pub mod writer;

use std::fmt;

use crate::error::DerError;
use crate::sign::SignError;

pub use columns::{Columns, OwnedColumns};
pub use parser::{parse_crl, ParsedCrl};
pub use writer::{build_signed, write_tbs, CrlParams, Draft, HoldInstruction, Idp};

/// Reason column value meaning "no reasonCode extension" (RFC 5280 §5.3.1: the
/// extension is optional, and for `unspecified` it SHOULD be absent).
pub const REASON_NONE: u8 = 255;
/// Invalidity-date column value meaning "no invalidityDate extension".
pub const INVALIDITY_NONE: i64 = i64::MIN;

/// Why a CRL could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlError {
    /// A malformed argument (shapes disagree, bad parameter).
    Argument(String),
    /// Row `index` of the input columns is not encodable.
    Row {
        index: usize,
        what: String,
    },
    /// The same serial twice (rows are input row indices, smaller first).
    Duplicate {
        serial_hex: String,
        rows: (usize, usize),
    },
    /// The CRL DER does not parse or breaks a rule of RFC 5280 §5.
    Decode(DerError),
    /// The signature over the TBSCertList does not verify with the issuer key.
    BadSignature(String),
    Sign(SignError),
    /// The progress callback asked to stop.
    Cancelled,
}

impl fmt::Display for CrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrlError::Argument(m) => write!(f, "{m}"),
            CrlError::Row { index, what } => write!(f, "row {index}: {what}"),
            CrlError::Duplicate { serial_hex, rows } => {
                write!(
                    f,
                    "duplicate serial {serial_hex} (rows {} and {})",
                    rows.0, rows.1
                )
            }
            CrlError::Decode(e) => write!(f, "{e}"),
            CrlError::BadSignature(m) => write!(f, "{m}"),
            CrlError::Sign(e) => write!(f, "{e}"),
            CrlError::Cancelled => write!(f, "cancelled by the progress callback"),
        }
    }
}

impl std::error::Error for CrlError {}

impl From<DerError> for CrlError {
    fn from(e: DerError) -> Self {
        CrlError::Decode(e)
    }
}

/// Progress callback: (entries done, entries total) → keep going?
pub type Progress<'a> = &'a (dyn Fn(usize, usize) -> bool + Sync);

/// A progress callback that never stops anything.
pub fn no_progress(_: usize, _: usize) -> bool {
    true
}
