// SPDX-License-Identifier: GPL-2.0-only
//! Framing and argument parsing, including random garbage.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::*;

#[test]
fn encode_then_decode_in_pieces() {
    let msg = Message::request(XsdSockmsgType::Write, 7, 3, &[b"/a/b"]);
    let bytes = msg.encode();
    assert_eq!(&bytes[..4], &11u32.to_ne_bytes());
    assert_eq!(bytes.len(), HEADER_LEN + 5);
    let mut dec = Decoder::default();
    for chunk in bytes.chunks(3) {
        assert_eq!(dec.next_message(), Ok(None));
        dec.push(chunk);
    }
    assert_eq!(dec.next_message(), Ok(Some(msg)));
    assert!(dec.is_empty());
}

#[test]
fn too_long_payload_is_a_frame_error() {
    let mut header = Message::request(XsdSockmsgType::Read, 1, 0, &[]).encode();
    header[12..16].copy_from_slice(&4097u32.to_ne_bytes());
    let mut dec = Decoder::default();
    dec.push(&header);
    assert_eq!(dec.next_message(), Err(FrameError::TooLong { len: 4097, req_id: 1, tx_id: 0 }));
}

#[test]
fn arguments_need_their_nuls() {
    assert_eq!(one_arg(b"/a\0"), Ok("/a"));
    assert_eq!(one_arg(b"/a"), Err(XsdError::EINVAL));
    assert_eq!(one_arg(b"/a\0b\0"), Err(XsdError::EINVAL));
    assert_eq!(one_arg(b""), Err(XsdError::EINVAL));
    assert_eq!(args::<2>(b"p\0tok\0"), Ok(["p", "tok"]));
    assert_eq!(path_and_value(b"/x\0va\0l"), Ok(("/x", &b"va\0l"[..])));
    assert_eq!(path_and_value(b"/x\0"), Ok(("/x", &b""[..])));
    assert_eq!(path_and_value(b"/x"), Err(XsdError::EINVAL));
    assert_eq!(number::<u16>("12"), Ok(12));
    assert_eq!(number::<u16>("0x1"), Err(XsdError::EINVAL));
    assert_eq!(number::<u16>("70000"), Err(XsdError::EINVAL));
}

#[test]
fn error_reply_names_the_errno() {
    let req = Message::request(XsdSockmsgType::Read, 9, 2, &[b"/x"]);
    let err = Message::error(&req, XsdError::ENOENT);
    assert_eq!(err.payload, b"ENOENT\0");
    assert_eq!((err.req_id, err.tx_id), (9, 2));
    assert_eq!(err.as_error(), Some(XsdError::ENOENT));
}
