//! `PointState`: a publication point's manifest and CRL entries kept in Rust between
//! changes (porthos_core::rpki::point), and `reissue`, which turns them into a signed
//! manifest and CRL with the GIL released: the ≤ 50 ms path of issue 18 §6.

use std::sync::{Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use porthos_core::crl::no_progress;
use porthos_core::crl::writer::{build_signed, CrlParams};
use porthos_core::rpki::batch::{issue_signed_objects, ObjectItem};
use porthos_core::rpki::point;
use porthos_core::rpki::signed_object::{sha256, ID_CT_MANIFEST};
use porthos_core::sign::Signer;
use porthos_core::template::ItemError;
use porthos_core::x509::{cert, name_encode};

use crate::args::byte_items;
use crate::error::{NativeError, NativeResult};
use crate::keys::SoftwareKey;
use crate::rpki::RsaKeyPool;
use crate::template::Template;

fn bytes(py: Python<'_>, b: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, b).unbind()
}

fn encode_err(e: porthos_core::DerError) -> NativeError {
    NativeError::Encode(e.to_string())
}

/// File name → SHA-256 of every file at a publication point, and its CRL entries.
#[pyclass(module = "porthos._native")]
pub struct PointState {
    inner: Mutex<point::PointState>,
}

impl PointState {
    fn lock(&self) -> MutexGuard<'_, point::PointState> {
        // Every update is one map operation: a panic cannot leave it half done.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PointState {
    #[new]
    fn new() -> Self {
        PointState {
            inner: Mutex::new(point::PointState::new()),
        }
    }

    fn __len__(&self) -> usize {
        self.lock().len()
    }

    /// Put or replace files (names per RFC 9286 §4.2.2), hashed with the GIL
    /// released; all names are checked before any is changed.
    fn set_files(
        &self,
        py: Python<'_>,
        names: Vec<String>,
        files: &Bound<'_, PyAny>,
    ) -> NativeResult<()> {
        let files = byte_items(files, "files")?;
        crate::args::check_len("files", files.len(), names.len())?;
        if let Some(bad) = names
            .iter()
            .find(|n| !porthos_core::rpki::manifest::valid_file_name(n))
        {
            return Err(NativeError::Encode(format!(
                "{bad:?}: file name outside the RFC 9286 §4.2.2 syntax"
            )));
        }
        let hashes: Vec<[u8; 32]> =
            py.detach(|| (0..files.len()).map(|i| sha256(files.get(i))).collect());
        let mut s = self.lock();
        for (n, h) in names.iter().zip(hashes) {
            s.set(n, h).map_err(encode_err)?;
        }
        Ok(())
    }

    /// Put or replace one file; True when it replaced one.
    fn set_file(&self, name: &str, data: &[u8]) -> NativeResult<bool> {
        self.lock().set(name, sha256(data)).map_err(encode_err)
    }

    /// Remove one file; True when it was listed.
    fn remove_file(&self, name: &str) -> bool {
        self.lock().remove(name)
    }

    /// The SHA-256 listed for `name`, or None.
    fn file_hash(&self, py: Python<'_>, name: &str) -> Option<Py<PyBytes>> {
        self.lock().get(name).map(|h| bytes(py, h))
    }

    /// Add a CRL entry: serial (big-endian magnitude) revoked at `revocation_time`.
    fn revoke(&self, serial: &[u8], revocation_time: i64) -> NativeResult<()> {
        self.lock()
            .revoke(serial, revocation_time)
            .map_err(encode_err)
    }

    /// Drop a CRL entry (its certificate expired); True when it was there.
    fn unrevoke(&self, serial: &[u8]) -> NativeResult<bool> {
        self.lock().unrevoke(serial).map_err(encode_err)
    }

    #[getter]
    fn revoked_count(&self) -> usize {
        self.lock().revoked_len()
    }

    /// Manifest eContent (RFC 9286 §4.2) of every file, in name order.
    fn manifest_content(
        &self,
        py: Python<'_>,
        number: &[u8],
        this_update: i64,
        next_update: i64,
    ) -> NativeResult<Py<PyBytes>> {
        let der = py.detach(|| {
            self.lock()
                .manifest_content(number, this_update, next_update)
        });
        Ok(bytes(py, &der.map_err(encode_err)?))
    }

    /// Sign a new CRL and then a new manifest of this point (the manifest lists the
    /// new CRL as `crl_name`, whose hash the state keeps), GIL released.
    /// The manifest's EE certificate comes from `template` (the CA's EE profile with
    /// SIA and IP/AS holes) for a one-time key taken from `key_pool` (RFC 6487 §3:
    /// used once, then dropped); validity = thisUpdate..nextUpdate (RFC 9286 §4.2.1,
    /// §5.1). The CRL lists the kept entries without entry extensions (RFC 6487 §5),
    /// issuer and AKI from `ca_certificate`. Returns (manifest, crl) DER.
    #[pyo3(signature = (template, ca_key, ca_certificate, key_pool, *, crl_name, manifest_number, crl_number, this_update, next_update, ee_serial, ee_subject, sia, ip_addr_blocks, as_identifiers, signing_time))]
    #[allow(clippy::too_many_arguments)]
    fn reissue(
        &self,
        py: Python<'_>,
        template: &Template,
        ca_key: &SoftwareKey,
        ca_certificate: &[u8],
        key_pool: &RsaKeyPool,
        crl_name: &str,
        manifest_number: &[u8],
        crl_number: &[u8],
        this_update: i64,
        next_update: i64,
        ee_serial: &[u8],
        ee_subject: Vec<(String, String)>,
        sia: &[u8],
        ip_addr_blocks: &[u8],
        as_identifiers: &[u8],
        signing_time: i64,
    ) -> NativeResult<(Py<PyBytes>, Py<PyBytes>)> {
        let t = template.inner();
        if !porthos_core::rpki::manifest::valid_file_name(crl_name) || !crl_name.ends_with(".crl") {
            return Err(NativeError::Encode(format!(
                "crl_name {crl_name:?}: not an RFC 9286 §4.2.2 file name ending in .crl"
            )));
        }
        if ca_key.inner.algorithm() != t.algorithm() {
            return Err(NativeError::Sign(format!(
                "the CA key signs with {}, the template with {}",
                ca_key.inner.algorithm().name(),
                t.algorithm().name()
            )));
        }
        let info = cert::parse_certificate(ca_certificate).map_err(NativeError::Decode)?;
        let aki = match info.subject_key_id {
            Some(k) => k.to_vec(),
            None => {
                return Err(NativeError::Encode(
                    "ca_certificate has no subjectKeyIdentifier (RFC 6487 §4.8.2)".into(),
                ))
            }
        };
        let params = CrlParams {
            issuer_der: info.subject_der.to_vec(),
            authority_key_id: Some(aki),
            this_update,
            next_update: Some(next_update),
            crl_number: crl_number.to_vec(),
            idp: None,
            delta_base: None,
            hold_instruction: None,
            alg: ca_key.inner.algorithm(),
        };
        let subject = name_encode::encode_name_with(&ee_subject, t.name_strings())
            .map_err(|e| NativeError::Encode(format!("ee_subject: {e}")))?;
        // Taken last, after every check: a refused call leaves the pool as it was.
        let keys = key_pool.take(1)?;
        let (mft, crl) = py.detach(|| -> NativeResult<(Vec<u8>, Vec<u8>)> {
            let mut state = self.lock();
            // The CRL first: the manifest lists it with its hash (RFC 9286 §4.2.1).
            let cols = state.crl_columns();
            let (buf, start) = build_signed(&params, &cols.view(), &ca_key.inner, &no_progress)
                .map_err(NativeError::Crl)?;
            let crl = buf[start..].to_vec();
            state.set(crl_name, sha256(&crl)).map_err(encode_err)?;
            let content = state
                .manifest_content(manifest_number, this_update, next_update)
                .map_err(encode_err)?;
            drop(state);
            let item = ObjectItem {
                serial: ee_serial,
                not_before: this_update,
                not_after: next_update,
                subject: &subject,
                sia: Some(sia),
                ip_addr_blocks: Some(ip_addr_blocks),
                as_identifiers: Some(as_identifiers),
                content: &content,
            };
            let out = issue_signed_objects(
                t,
                &ca_key.inner,
                &keys,
                ID_CT_MANIFEST,
                signing_time,
                &[item],
            )
            .map_err(|(_, e)| match e {
                ItemError::Sign(s) => NativeError::Sign(format!("manifest: {s}")),
                ItemError::Encode(d) => NativeError::Encode(format!("manifest: {d}")),
            })?;
            Ok((out.objects.0, crl))
        })?;
        Ok((bytes(py, &mft), bytes(py, &crl)))
    }
}

pub fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PointState>()
}
