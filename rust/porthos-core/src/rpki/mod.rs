//! The Resource PKI engine (issue 18 §1): RFC 3779 resources and their arithmetic,
//! SIA and the RPKI policy, the RFC 6488 signed-object writer, and the manifest
//! (RFC 9286) and ROA (RFC 9582) eContents, each with a strict parser. Generic
//! mechanism only: which resources a CA holds, what it publishes and when are the
//! CP/CPS's decisions (python/porthos/cpcps/rpki/). See docs/rpki-engine.md.

pub mod batch;
pub mod intervals;
pub mod manifest;
pub mod point;
pub mod rfc3779;
pub mod roa;
pub mod sia;
pub mod signed_object;

pub use intervals::IntervalSet;
pub use rfc3779::{Afi, CertResources, Choice};
