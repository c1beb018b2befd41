//! Template: compile once, then fill / issue / assemble whole batches.

use pyo3::prelude::*;
use rayon::prelude::*;

use porthos_core::template::{self, Spread, TbsInput};
use porthos_core::x509::name_encode::{self, NameStrings};
use porthos_core::x509::san::{self, SanValue};
use porthos_core::{DerError, DerErrorKind};

use crate::args::{byte_items, check_len, i64_items};
use crate::batch::DerBatch;
use crate::error::{NativeError, NativeResult};
use crate::keys::{parse_alg, SoftwareKey};
use crate::threads::{place, pool, run_in};
use crate::typed_args;

#[pyclass(frozen, module = "porthos._native")]
pub struct Template {
    inner: template::Template,
}

type Names = Vec<(String, String)>;

/// A SAN entry's value as Python gives it: text, or a directoryName's
/// [(attribute, value), ...].
#[derive(FromPyObject)]
enum SanArg {
    Text(String),
    Name(Names),
}

type Sans = Vec<(String, SanValue)>;

fn sans_arg(list: Vec<Option<Vec<(String, SanArg)>>>) -> Vec<Option<Sans>> {
    list.into_iter()
        .map(|item| {
            item.map(|names| {
                names
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            SanArg::Text(t) => SanValue::Text(t),
                            SanArg::Name(n) => SanValue::Name(n),
                        };
                        (k, v)
                    })
                    .collect()
            })
        })
        .collect()
}

fn extract_sans(sans: Option<&Bound<'_, PyAny>>) -> NativeResult<Option<Vec<Option<Sans>>>> {
    match sans {
        None => Ok(None),
        Some(s) if s.is_none() => Ok(None),
        Some(s) => Ok(Some(sans_arg(s.extract().map_err(|_| {
            NativeError::Batch(
                "sans: expected a sequence of [(kind, value), ...] or None; a dirname value \
                 is [(attribute, value), ...]"
                    .into(),
            )
        })?))),
    }
}

fn extract_subjects(subjects: &Bound<'_, PyAny>) -> NativeResult<Vec<Names>> {
    subjects.extract().map_err(|_| {
        NativeError::Batch(
            "subjects: expected a sequence of [(attribute, value), ...] lists".into(),
        )
    })
}

/// What an item's encode error says, for a per-item reason: the field, then what.
fn encode_reason(e: &DerError) -> String {
    match &e.kind {
        DerErrorKind::Unencodable(what) if !e.path.is_empty() => format!("{}: {what}", e.path),
        _ => e.to_string(),
    }
}

/// The per-item arguments, owned, so that everything after extraction runs without
/// the GIL.
struct Items {
    serials: crate::args::ByteItems,
    not_before: Vec<i64>,
    not_after: Vec<i64>,
    subjects: Vec<Names>,
    spkis: crate::args::ByteItems,
    sans: Option<Vec<Option<Sans>>>,
    /// Per-item extnValue DER for the sia / ip_addr_blocks / as_identifiers holes.
    blobs: [Vec<Option<Vec<u8>>>; 3],
}

/// The three blob holes, in `Items::blobs` order.
const BLOB_HOLES: [template::Hole; 3] = [
    template::Hole::Sia,
    template::Hole::IpAddrBlocks,
    template::Hole::AsIdentifiers,
];

/// One blob-hole argument: None, or one bytes-or-None per item. An item with a value
/// for a hole the profile lacks is a batch error (its value would be dropped).
fn extract_blobs(
    obj: Option<&Bound<'_, PyAny>>,
    hole: template::Hole,
    has_hole: bool,
    n: usize,
) -> NativeResult<Vec<Option<Vec<u8>>>> {
    let name = hole.name();
    let v: Vec<Option<Vec<u8>>> = match obj {
        None => return Ok(vec![None; n]),
        Some(o) if o.is_none() => return Ok(vec![None; n]),
        Some(o) => o.extract().map_err(|_| {
            NativeError::Batch(format!("{name}: expected a sequence of bytes or None"))
        })?,
    };
    check_len(name, v.len(), n)?;
    if !has_hole && v.iter().any(Option::is_some) {
        return Err(NativeError::Batch(format!(
            "{name}: this profile has no {name} extension hole"
        )));
    }
    Ok(v)
}

#[allow(clippy::too_many_arguments)]
fn extract_items(
    serials: &Bound<'_, PyAny>,
    not_before: &Bound<'_, PyAny>,
    not_after: &Bound<'_, PyAny>,
    subjects: &Bound<'_, PyAny>,
    spkis: &Bound<'_, PyAny>,
    sans: Option<&Bound<'_, PyAny>>,
    blobs: [Option<&Bound<'_, PyAny>>; 3],
    template: &template::Template,
) -> NativeResult<Items> {
    let has_san = template.has_san();
    let spkis = byte_items(spkis, "spkis")?;
    let n = spkis.len();
    let serials = byte_items(serials, "serials")?;
    check_len("serials", serials.len(), n)?;
    let not_before = i64_items(not_before, "not_before")?;
    check_len("not_before", not_before.len(), n)?;
    let not_after = i64_items(not_after, "not_after")?;
    check_len("not_after", not_after.len(), n)?;
    let subjects = extract_subjects(subjects)?;
    check_len("subjects", subjects.len(), n)?;
    let sans = extract_sans(sans)?;
    if let Some(s) = &sans {
        check_len("sans", s.len(), n)?;
        if !has_san && s.iter().any(|x| x.as_ref().is_some_and(|v| !v.is_empty())) {
            return Err(NativeError::Batch(
                "sans: this profile has no subject_alt_name extension".into(),
            ));
        }
    }
    let [b0, b1, b2] = blobs;
    let blobs = [
        extract_blobs(b0, BLOB_HOLES[0], template.has_hole(BLOB_HOLES[0]), n)?,
        extract_blobs(b1, BLOB_HOLES[1], template.has_hole(BLOB_HOLES[1]), n)?,
        extract_blobs(b2, BLOB_HOLES[2], template.has_hole(BLOB_HOLES[2]), n)?,
    ];
    Ok(Items {
        serials,
        not_before,
        not_after,
        subjects,
        spkis,
        sans,
        blobs,
    })
}

/// Fewest items `item_errors` hands to one parallel job.
const ITEM_ERRORS_MIN_RUN: usize = 512;

/// Encode subjects and SANs (where `spread` says), then run `f` over the TbsInputs.
fn with_inputs<T>(
    items: &Items,
    strings: &NameStrings,
    spread: Spread,
    f: impl FnOnce(&[TbsInput<'_>]) -> NativeResult<T>,
) -> NativeResult<T> {
    let n = items.spkis.len();
    let subjects: Vec<Vec<u8>> = spread
        .map(&items.subjects, |i, s| {
            name_encode::encode_name_with(s, strings)
                .map_err(|e| NativeError::Encode(format!("subjects[{i}]: {e}")))
        })
        .into_iter()
        .collect::<NativeResult<_>>()?;
    let sans: Vec<Option<Vec<u8>>> = match &items.sans {
        None => vec![None; n],
        Some(list) => spread
            .map(list, |i, s| match s {
                Some(names) if !names.is_empty() => {
                    san::subject_alt_names(names, strings, &format!("sans[{i}]"))
                        .map(Some)
                        .map_err(|e| NativeError::Encode(e.to_string()))
                }
                _ => Ok(None),
            })
            .into_iter()
            .collect::<NativeResult<_>>()?,
    };
    let inputs: Vec<TbsInput<'_>> = (0..n)
        .map(|i| TbsInput {
            serial: items.serials.get(i),
            not_before: items.not_before[i],
            not_after: items.not_after[i],
            subject: &subjects[i],
            spki: items.spkis.get(i),
            san: sans[i].as_deref(),
            sia: items.blobs[0][i].as_deref(),
            ip_addr_blocks: items.blobs[1][i].as_deref(),
            as_identifiers: items.blobs[2][i].as_deref(),
        })
        .collect();
    f(&inputs)
}

fn item_error(index: usize, e: impl std::fmt::Display) -> NativeError {
    NativeError::Encode(format!("item {index}: {e}"))
}

/// An item that could not be issued: a signing failure or an encoding one.
fn issue_error(index: usize, e: template::ItemError) -> NativeError {
    match e {
        template::ItemError::Sign(s) => NativeError::Sign(format!("item {index}: {s}")),
        template::ItemError::Encode(d) => item_error(index, d),
    }
}

impl Template {
    pub(crate) fn inner(&self) -> &template::Template {
        &self.inner
    }
}

#[pymethods]
impl Template {
    #[new]
    fn new(
        #[pyo3(from_py_with = typed_args::spec_json)] spec_json: String,
        #[pyo3(from_py_with = typed_args::issuer_name_der)] issuer_name_der: Vec<u8>,
        #[pyo3(from_py_with = typed_args::issuer_key_id)] issuer_key_id: Option<Vec<u8>>,
        #[pyo3(from_py_with = typed_args::signature_algorithm)] signature_algorithm: String,
    ) -> NativeResult<Template> {
        let alg = parse_alg(&signature_algorithm)?;
        Ok(Template {
            inner: template::Template::compile(
                &spec_json,
                &issuer_name_der,
                issuer_key_id.as_deref(),
                alg,
            )?,
        })
    }

    #[staticmethod]
    fn for_issuer(
        #[pyo3(from_py_with = typed_args::spec_json)] spec_json: String,
        #[pyo3(from_py_with = typed_args::issuer_cert_der)] issuer_cert_der: Vec<u8>,
        #[pyo3(from_py_with = typed_args::signature_algorithm)] signature_algorithm: String,
    ) -> NativeResult<Template> {
        let alg = parse_alg(&signature_algorithm)?;
        Ok(Template {
            inner: template::Template::for_issuer(&spec_json, &issuer_cert_der, alg)?,
        })
    }

    #[getter]
    fn signature_algorithm(&self) -> &'static str {
        self.inner.algorithm().name()
    }

    /// TBSCertificates only. `threads`: as for `issue` (None: every core); the
    /// one-thread streamed batch fills each piece with `threads=1`, on the calling
    /// thread, so the fill neither competes with its signer for the cores nor uses
    /// rayon's global pool.
    #[pyo3(signature = (*, serials, not_before, not_after, subjects, spkis, sans = None, sias = None, ip_addr_blocks = None, as_identifiers = None, threads = None))]
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        py: Python<'_>,
        serials: &Bound<'_, PyAny>,
        not_before: &Bound<'_, PyAny>,
        not_after: &Bound<'_, PyAny>,
        subjects: &Bound<'_, PyAny>,
        spkis: &Bound<'_, PyAny>,
        sans: Option<&Bound<'_, PyAny>>,
        sias: Option<&Bound<'_, PyAny>>,
        ip_addr_blocks: Option<&Bound<'_, PyAny>>,
        as_identifiers: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = typed_args::threads_of)] threads: Option<usize>,
    ) -> NativeResult<DerBatch> {
        let items = extract_items(
            serials,
            not_before,
            not_after,
            subjects,
            spkis,
            sans,
            [sias, ip_addr_blocks, as_identifiers],
            &self.inner,
        )?;
        let place = place(threads)?;
        let strings = self.inner.name_strings();
        let (data, offsets) = py.detach(|| {
            place.run(|spread| {
                with_inputs(&items, strings, spread, |inputs| {
                    self.inner
                        .fill_batch_spread(inputs, spread)
                        .map_err(|(i, e)| item_error(i, e))
                })
            })
        })?;
        Ok(DerBatch::new(py, data, offsets)?)
    }

    #[pyo3(signature = (signer, *, serials, not_before, not_after, subjects, spkis, sans = None, sias = None, ip_addr_blocks = None, as_identifiers = None, threads = None))]
    #[allow(clippy::too_many_arguments)]
    fn issue(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = typed_args::signer)] signer: Py<SoftwareKey>,
        serials: &Bound<'_, PyAny>,
        not_before: &Bound<'_, PyAny>,
        not_after: &Bound<'_, PyAny>,
        subjects: &Bound<'_, PyAny>,
        spkis: &Bound<'_, PyAny>,
        sans: Option<&Bound<'_, PyAny>>,
        sias: Option<&Bound<'_, PyAny>>,
        ip_addr_blocks: Option<&Bound<'_, PyAny>>,
        as_identifiers: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = typed_args::threads_of)] threads: Option<usize>,
    ) -> NativeResult<DerBatch> {
        let items = extract_items(
            serials,
            not_before,
            not_after,
            subjects,
            spkis,
            sans,
            [sias, ip_addr_blocks, as_identifiers],
            &self.inner,
        )?;
        let pool = pool(threads)?;
        let strings = self.inner.name_strings();
        let (data, offsets) = py.detach(|| {
            run_in(&pool, || {
                with_inputs(&items, strings, Spread::Pool, |inputs| {
                    self.inner
                        .issue_batch(&signer.get().inner, inputs)
                        .map_err(|(i, e)| issue_error(i, e))
                })
            })
        })?;
        Ok(DerBatch::new(py, data, offsets)?)
    }

    /// Sign and assemble TBSCertificates this template filled (`fill`), in parallel
    /// (`threads=1`: on the calling thread), with the GIL released: the signing half
    /// of `issue`, for a caller that fills on another thread than the one that signs.
    #[pyo3(signature = (signer, tbs, *, threads = None))]
    fn sign_filled(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = typed_args::signer)] signer: Py<SoftwareKey>,
        #[pyo3(from_py_with = typed_args::tbs_batch)] tbs: Py<DerBatch>,
        #[pyo3(from_py_with = typed_args::threads_of)] threads: Option<usize>,
    ) -> NativeResult<DerBatch> {
        let (data, offsets) = tbs.get().to_owned_items(py)?;
        let place = place(threads)?;
        let (out, out_offsets) = py.detach(|| {
            place.run(|spread| {
                self.inner
                    .sign_filled_spread(&signer.get().inner, &data, &offsets, spread)
                    .map_err(|(i, e)| issue_error(i, e))
            })
        })?;
        Ok(DerBatch::new(py, out, out_offsets)?)
    }

    /// True when the spec chose string types (`name_strings`): a subject value may
    /// then not fit, and the caller screens items with `item_errors` first.
    #[getter]
    fn has_name_strings(&self) -> bool {
        !self.inner.name_strings().is_empty()
    }

    #[getter]
    fn has_san(&self) -> bool {
        self.inner.has_san()
    }

    /// Why each item's subject (and SAN entries) cannot be filled into this template,
    /// "" for an item that can: the same encoders as `fill`/`issue`, so a caller refuses
    /// such items one by one instead of losing the batch to the first of them.
    #[pyo3(signature = (*, subjects, sans = None))]
    fn item_errors(
        &self,
        py: Python<'_>,
        subjects: &Bound<'_, PyAny>,
        sans: Option<&Bound<'_, PyAny>>,
    ) -> NativeResult<Vec<String>> {
        let subjects = extract_subjects(subjects)?;
        let sans = extract_sans(sans)?;
        if let Some(s) = &sans {
            check_len("sans", s.len(), subjects.len())?;
        }
        let strings = self.inner.name_strings();
        let has_san = self.inner.has_san();
        Ok(py.detach(|| {
            // ~3.5 µs an item: a streamed piece of a one-thread batch (128 items) is
            // checked on the calling thread. Handed to the global pool, its few jobs
            // waited behind the signer and verifier threads for a core (issue 16 §5:
            // 30 µs an item in the one-thread pipeline instead of 3.5).
            subjects
                .par_iter()
                .with_min_len(ITEM_ERRORS_MIN_RUN)
                .enumerate()
                .map(|(i, subject)| {
                    if let Err(e) = name_encode::encode_name_with(subject, strings) {
                        return encode_reason(&e);
                    }
                    match sans.as_ref().and_then(|s| s[i].as_ref()) {
                        Some(names) if !names.is_empty() && !has_san => {
                            "this profile has no subject_alt_name extension".to_string()
                        }
                        Some(names) if !names.is_empty() => {
                            match san::subject_alt_names(names, strings, "sans") {
                                Ok(_) => String::new(),
                                Err(e) => encode_reason(&e),
                            }
                        }
                        _ => String::new(),
                    }
                })
                .collect()
        }))
    }

    fn assemble(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = typed_args::tbs_batch)] tbs: Py<DerBatch>,
        signatures: &Bound<'_, PyAny>,
    ) -> NativeResult<DerBatch> {
        let tbs = tbs.get();
        let sigs = byte_items(signatures, "signatures")?;
        let (data, offsets) = tbs.to_owned_items(py)?;
        let n = offsets.len().saturating_sub(1);
        check_len("signatures", sigs.len(), n)?;
        let alg_id = self.inner.algorithm_identifier().to_vec();
        let (out, out_offsets) = py.detach(|| {
            let mut out = Vec::with_capacity(data.len() + n * 96);
            let mut out_offsets = Vec::with_capacity(n + 1);
            out_offsets.push(0u64);
            for i in 0..n {
                let t = &data[offsets[i] as usize..offsets[i + 1] as usize];
                template::assemble_certificate(t, &alg_id, sigs.get(i), &mut out);
                out_offsets.push(out.len() as u64);
            }
            (out, out_offsets)
        });
        Ok(DerBatch::new(py, out, out_offsets)?)
    }
}
