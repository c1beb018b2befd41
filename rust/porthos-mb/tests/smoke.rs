use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use porthos_mb::*;

#[test]
fn smoke() {
    let rng = SystemRandom::new();
    let mut items = vec![];
    for i in 0..20u8 {
        let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref()).unwrap();
        let msg = [i; 10];
        let sig = kp.sign(&rng, &msg).unwrap();
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &msg);
        let mut it = P256Item {
            public_key: kp.public_key().as_ref().try_into().unwrap(),
            digest: d.as_ref().try_into().unwrap(),
            r: sig.as_ref()[..32].try_into().unwrap(),
            s: sig.as_ref()[32..].try_into().unwrap(),
        };
        if i % 3 == 1 {
            it.digest[5] ^= 1;
        }
        items.push(it);
    }
    let want: Vec<bool> = items.iter().map(verify_p256_fallback).collect();
    assert!(want.iter().filter(|x| **x).count() > 5);
    assert_eq!(verify_p256_batch_portable(&items), want);
    assert_eq!(verify_p256_batch_ifma(&items).unwrap(), want);
}
