//! Certificate templates: a profile compiled once, against one issuer, into fixed
//! byte runs plus typed holes (docs/template-spec.md).
//!
//! ```text
//! TBSCertificate ::= SEQUENCE {                      -- length computed per item
//!   [0] EXPLICIT version v3                          -- fixed
//!   serialNumber                                     -- hole
//!   signature AlgorithmIdentifier, issuer Name       -- fixed
//!   validity SEQUENCE { notBefore, notAfter }        -- holes
//!   subject Name, subjectPublicKeyInfo               -- holes
//!   [3] EXPLICIT SEQUENCE OF Extension {             -- fixed runs + SKI/SAN holes
//! }
//! ```
//! A fill never re-encodes what is fixed: it sums the hole lengths, writes the outer
//! headers and copies the runs (one exact-size allocation per certificate).

mod compile;
mod fill;
pub mod spec;

pub use compile::{key_identifier, Hole, SpecError, Template};
pub use fill::{assemble_certificate, DerItems, ItemError, Spread, TbsInput};
