//! CI's run of examples/makemore.rs: a few hundred steps must bring the validation loss
//! below the bigram baseline's on the same held-out words.

#[allow(dead_code)]
#[path = "../examples/makemore.rs"]
mod example;

use rand::SeedableRng;

#[test]
fn a_few_hundred_steps_beat_the_bigram_baseline() {
    let (words, _) = example::load_words();
    // A seeded sample of 6,000 words keeps the test fast with any dictionary.
    let mut words = words;
    rand::seq::SliceRandom::shuffle(&mut words[..], &mut rand::rngs::StdRng::seed_from_u64(1));
    words.truncate(6000);
    let model = example::CharMlp::<f32>::new(&mut rand::rngs::StdRng::seed_from_u64(0));
    let report = graft::run(|| example::train(&model, &words, 400, 0)).unwrap();
    eprintln!("val {} vs bigram {}", report.val_loss, report.bigram_loss);
    assert!(
        report.val_loss < report.bigram_loss,
        "val {} vs bigram {}",
        report.val_loss,
        report.bigram_loss
    );
}

#[test]
fn the_bundled_word_list_also_beats_the_bigram_baseline() {
    let words = example::bundled_words();
    assert!(words.len() > 850, "{}", words.len());
    let model = example::CharMlp::<f32>::new(&mut rand::rngs::StdRng::seed_from_u64(0));
    let report = graft::run(|| example::train(&model, &words, 400, 0)).unwrap();
    eprintln!(
        "bundled: val {} vs bigram {}",
        report.val_loss, report.bigram_loss
    );
    assert!(
        report.val_loss < report.bigram_loss,
        "val {} vs bigram {}",
        report.val_loss,
        report.bigram_loss
    );
}
