//! How a resource body is kept in `history.body`: as the JSON text when it is
//! small, zstd-compressed (a BLOB) when it is not.
//!
//! Why: every page a commit changes is written to the log and copied again
//! by the checkpoint. A Da Vinci notification message is ~10 KB of JSON, two
//! overflow pages beyond its history row; compressed (level 1, ~20 µs) it is
//! ~3 KB and fits in the row's own page. In a traced pair of notification
//! benchmark runs that was 9% fewer log writes per message from the writer
//! and 19% fewer page copies by the checkpointer, and the database is
//! smaller by about 7 KB per message.
//! Small bodies stay text: they already share a page with their neighbours,
//! and text keeps them readable with the `sqlite3` shell. The column's type
//! tells the two apart, so databases written before keep working unchanged.
//! A caller holding a large body before its transaction (a received message)
//! has it compressed then, on its own task ([`pack`], through
//! `Store::encode_ahead`): zstd was a tenth of the single writer's CPU.

use std::cell::RefCell;

use rusqlite::types::{FromSqlError, ToSqlOutput, Type, ValueRef};

use crate::store::{EncodedBody, StoreError};

/// Bodies at least this long (bytes) are compressed.
pub const COMPRESS_FROM: usize = 1024;
/// zstd's fastest regular level: the compression often runs on the writer thread.
const LEVEL: i32 = 1;
/// No stored body decompresses to more than this (a corrupt or hostile
/// frame header must not make a reader allocate without bound).
const MAX_BODY: usize = 256 << 20;

thread_local! {
    // Compression contexts are costly to set up; each thread keeps one.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The value to store for `body`: prepared ahead when the caller did (see
/// [`pack`]), else compressed here.
pub fn encode<'a>(
    body: &'a str,
    ahead: Option<&'a EncodedBody>,
) -> Result<ToSqlOutput<'a>, StoreError> {
    let packed = match ahead {
        Some(e) => e.packed.as_deref(),
        None => return Ok(pack(body)?.map_or(text(body), ToSqlOutput::from)),
    };
    Ok(packed.map_or(text(body), |p| ToSqlOutput::Borrowed(ValueRef::Blob(p))))
}

fn text(body: &str) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(ValueRef::Text(body.as_bytes()))
}

/// `body` compressed, or `None` when it is kept as text (small, huge, or
/// not smaller compressed). Pure CPU work, so it can run before the write
/// transaction on any thread.
pub fn pack(body: &str) -> Result<Option<Vec<u8>>, StoreError> {
    // Beyond MAX_BODY the text is kept as it is, so every stored body reads back.
    if body.len() < COMPRESS_FROM || body.len() > MAX_BODY {
        return Ok(None);
    }
    let packed = COMPRESSOR
        .with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                let mut fresh = zstd::bulk::Compressor::new(LEVEL)?;
                // A checksum of the content: a damaged page reads as an error,
                // never as a different resource.
                fresh.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
                *c = Some(fresh);
            }
            c.as_mut().expect("set above").compress(body.as_bytes())
        })
        .map_err(|e| StoreError::Backend(format!("cannot compress a body: {e}")))?;
    Ok((packed.len() < body.len()).then_some(packed))
}

/// The body stored as `value` (text, or a compressed BLOB).
pub fn decode(value: ValueRef<'_>) -> Result<String, FromSqlError> {
    match value {
        ValueRef::Text(t) => {
            String::from_utf8(t.to_vec()).map_err(|e| FromSqlError::Other(e.into()))
        }
        ValueRef::Blob(b) => {
            let size = zstd::zstd_safe::get_frame_content_size(b)
                .ok()
                .flatten()
                .filter(|n| *n as usize <= MAX_BODY)
                .ok_or_else(|| FromSqlError::Other("a stored body's size is unreadable".into()))?;
            let bytes = DECOMPRESSOR.with(|d| {
                let mut d = d.borrow_mut();
                if d.is_none() {
                    *d = Some(zstd::bulk::Decompressor::new()?);
                }
                d.as_mut().expect("set above").decompress(b, size as usize)
            });
            let bytes = bytes.map_err(|e| FromSqlError::Other(e.into()))?;
            String::from_utf8(bytes).map_err(|e| FromSqlError::Other(e.into()))
        }
        _ => Err(FromSqlError::InvalidType),
    }
}

/// `decode` for a row's column, with rusqlite's error.
pub fn column(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<String> {
    let value = row.get_ref(i)?;
    decode(value).map_err(|e| match e {
        FromSqlError::InvalidType => {
            rusqlite::Error::InvalidColumnType(i, "body".into(), value.data_type())
        }
        other => rusqlite::Error::FromSqlConversionFailure(i, Type::Blob, Box::new(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored<'a>(v: &'a ToSqlOutput<'a>) -> ValueRef<'a> {
        match v {
            ToSqlOutput::Borrowed(r) => *r,
            ToSqlOutput::Owned(v) => v.into(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn small_bodies_stay_text() {
        let body = r#"{"resourceType":"Patient","id":"a"}"#;
        let v = encode(body, None).unwrap();
        assert_eq!(stored(&v), ValueRef::Text(body.as_bytes()));
        assert_eq!(decode(stored(&v)).unwrap(), body);
    }

    #[test]
    fn large_bodies_round_trip_compressed() {
        let body = serde_json::json!({"resourceType": "Bundle", "entry": (0..200)
            .map(|i| serde_json::json!({"fullUrl": format!("urn:uuid:{i}"), "resource": {"resourceType": "Basic", "id": format!("b{i}"), "text": "é ✓"}}))
            .collect::<Vec<_>>()})
        .to_string();
        let v = encode(&body, None).unwrap();
        let ValueRef::Blob(b) = stored(&v) else {
            panic!("not compressed")
        };
        assert!(b.len() < body.len() / 4);
        assert_eq!(decode(stored(&v)).unwrap(), body);
    }

    #[test]
    fn a_body_packed_ahead_is_stored_as_packed() {
        let big = "ab".repeat(4000);
        let ahead = EncodedBody {
            packed: pack(&big).unwrap(),
        };
        let v = encode(&big, Some(&ahead)).unwrap();
        let ValueRef::Blob(b) = stored(&v) else {
            panic!("not compressed")
        };
        assert_eq!(Some(b), ahead.packed.as_deref());
        assert_eq!(decode(stored(&v)).unwrap(), big);
        // Packed ahead as text (too small to compress): stored as the text.
        let small = r#"{"resourceType":"Patient"}"#;
        let ahead = EncodedBody {
            packed: pack(small).unwrap(),
        };
        assert!(ahead.packed.is_none());
        let v = encode(small, Some(&ahead)).unwrap();
        assert_eq!(stored(&v), ValueRef::Text(small.as_bytes()));
    }

    #[test]
    fn a_damaged_blob_is_an_error_not_a_panic() {
        let body = "x".repeat(5000);
        let v = encode(&body, None).unwrap();
        let ValueRef::Blob(b) = stored(&v) else {
            panic!("not compressed")
        };
        let mut bad = b.to_vec();
        let n = bad.len();
        bad[n / 2..].iter_mut().for_each(|x| *x ^= 0xA5);
        assert!(decode(ValueRef::Blob(&bad)).is_err());
        assert!(decode(ValueRef::Blob(b"not zstd")).is_err());
        assert!(decode(ValueRef::Integer(1)).is_err());
    }
}
