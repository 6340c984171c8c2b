//! The variable-length sections on their own: SACK proofs, user
//! continuations, transport continuations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trickles_wire::trickles::continuation::{CONTINUATION_LEN, Continuation};
use trickles_wire::trickles::sack::SackProof;
use trickles_wire::trickles::ucont::UserCont;

fuzz_target!(|data: &[u8]| {
    if let Ok((s, n)) = SackProof::parse(data) {
        assert_eq!(s.encoded_len(), n);
        let mut buf = vec![0u8; n];
        assert_eq!(s.emit(&mut buf), Ok(n));
        assert_eq!(&buf[..], &data[..n]);
    }
    if let Ok(u) = UserCont::parse(data) {
        assert_eq!(u.sealed_bytes().len() + u.mac().len(), u.as_bytes().len());
        assert!(u.app_data().len() <= 512);
    }
    if let Some(c) = data.get(..CONTINUATION_LEN) {
        let b: [u8; CONTINUATION_LEN] = c.try_into().expect("length checked");
        assert_eq!(Continuation::decode(&b).to_bytes(), b);
    }
});
