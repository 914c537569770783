//! CSV tables: header and target by name, numeric and categorical columns, missing-value
//! policies, errors naming the file and line, standardization fitted on training rows
//! only, and proptest fuzzing on random and truncated bytes.

use graft::data::csv_table::{Categorical, CsvOptions, CsvTable, Missing, Standardizer};
use graft::data::Targets;
use graft::tensor::Tensor;
use proptest::prelude::*;

const HOUSES: &str = "\
id,rooms,city,area,price
1,3,oslo,70.5,300
2,2,bergen,50,210
3,4,oslo,NA,410
4,1,alta,30,95
";

fn values(t: &Targets) -> Vec<f32> {
    match t {
        Targets::Values(v) => v.to_vec(),
        Targets::Classes(_) => panic!("values expected"),
    }
}

#[test]
fn numeric_and_one_hot_columns_with_a_fill_policy() {
    let opts = CsvOptions::new("price")
        .ignore("id")
        .missing(Missing::Fill(-1.0));
    let t = CsvTable::parse(HOUSES.as_bytes(), "houses.csv", &opts).unwrap();
    assert_eq!(
        t.feature_names,
        vec!["rooms", "city=alta", "city=bergen", "city=oslo", "area"]
    );
    assert_eq!(t.numeric_features, vec![0, 4]);
    assert_eq!(t.features.shape(), &[4, 5]);
    assert_eq!(
        t.features.to_vec(),
        vec![
            3.0, 0.0, 0.0, 1.0, 70.5, //
            2.0, 0.0, 1.0, 0.0, 50.0, //
            4.0, 0.0, 0.0, 1.0, -1.0, //
            1.0, 1.0, 0.0, 0.0, 30.0,
        ]
    );
    assert_eq!(values(&t.targets), vec![300.0, 210.0, 410.0, 95.0]);
    assert!(t.class_names.is_none());
}

#[test]
fn categorical_indices_and_a_string_target() {
    let opts = CsvOptions::new("city")
        .categorical(Categorical::Indices)
        .missing(Missing::Fill(0.0));
    let t = CsvTable::parse(HOUSES.as_bytes(), "houses.csv", &opts).unwrap();
    assert_eq!(t.feature_names, vec!["id", "rooms", "area", "price"]);
    assert_eq!(
        t.class_names.as_deref(),
        Some(&["alta".to_string(), "bergen".into(), "oslo".into()][..])
    );
    match &t.targets {
        Targets::Classes(c) => assert_eq!(c.to_vec(), vec![2, 1, 2, 0]),
        Targets::Values(_) => panic!("classes expected"),
    }
    let csv = "a;b;y\nx;1;0\nz;2;1\nx;3;0\n";
    let opts = CsvOptions::new("y")
        .delimiter(b';')
        .categorical(Categorical::Indices);
    let t = CsvTable::parse(csv.as_bytes(), "semi.csv", &opts).unwrap();
    assert_eq!(t.features.to_vec(), vec![0.0, 1.0, 1.0, 2.0, 0.0, 3.0]);
}

#[test]
fn errors_name_the_file_line_and_column() {
    let strict = CsvOptions::new("price");
    let e = CsvTable::parse(HOUSES.as_bytes(), "houses.csv", &strict).unwrap_err();
    assert_eq!(
        e.to_string(),
        "houses.csv: line 4: missing value in column \"area\" (the policy is Missing::Error)"
    );
    let e = CsvTable::parse(HOUSES.as_bytes(), "houses.csv", &CsvOptions::new("cost")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("houses.csv: no target column \"cost\""),
        "{e}"
    );
    let ragged = "a,y\n1,2\n3\n";
    let e = CsvTable::parse(ragged.as_bytes(), "r.csv", &CsvOptions::new("y")).unwrap_err();
    assert!(e.to_string().starts_with("r.csv: line 3"), "{e}");
    let no_target = "a,y\n1,\n";
    let e = CsvTable::parse(
        no_target.as_bytes(),
        "t.csv",
        &CsvOptions::new("y").missing(Missing::Fill(0.0)),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.csv: line 2: missing target in column \"y\""
    );
    let e = CsvTable::read("/nonexistent/t.csv".as_ref(), &CsvOptions::new("y")).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent/t.csv: cannot read"),
        "{e}"
    );
}

#[test]
fn standardization_uses_training_statistics_only() {
    let train = Tensor::from_vec(vec![1.0f32, 10.0, 3.0, 10.0, 5.0, 10.0], &[3, 2]);
    let s = Standardizer::fit(&train, &[0, 1]);
    // Column 0: mean 3, population std sqrt(8/3); column 1 is constant: std 1.
    assert_eq!(s.mean, vec![3.0, 10.0]);
    assert!((s.std[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
    assert_eq!(s.std[1], 1.0);
    let test = Tensor::from_vec(vec![7.0f32, 12.0], &[1, 2]);
    let out = s.apply(&test).to_vec();
    assert!((out[0] - 4.0 / (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
    assert_eq!(out[1], 2.0);
    // Features not listed pass through.
    let only_first = Standardizer::fit(&train, &[0]);
    assert_eq!(only_first.apply(&test).to_vec()[1], 12.0);
}

#[test]
fn split_partitions_the_rows() {
    let opts = CsvOptions::new("price")
        .ignore("id")
        .missing(Missing::Fill(0.0));
    let t = CsvTable::parse(HOUSES.as_bytes(), "houses.csv", &opts).unwrap();
    let (train, test) = t.split(0.25, 7);
    assert_eq!((train.inputs.shape()[0], test.inputs.shape()[0]), (3, 1));
    let mut all = [values(&train.targets), values(&test.targets)].concat();
    all.sort_by(f32::total_cmp);
    assert_eq!(all, vec![95.0, 210.0, 300.0, 410.0]);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = CsvTable::parse(&bytes, "random.csv", &CsvOptions::new("y"));
    }

    #[test]
    fn random_text_tables_never_panic(text in "[a-cy,;\"\n0-9.NA ]{0,120}") {
        for missing in [Missing::Error, Missing::Fill(0.0)] {
            let opts = CsvOptions::new("y").missing(missing);
            let _ = CsvTable::parse(text.as_bytes(), "random.csv", &opts);
        }
    }

    #[test]
    fn truncations_never_panic(cut in 0..HOUSES.len()) {
        let opts = CsvOptions::new("price").missing(Missing::Fill(0.0));
        let _ = CsvTable::parse(&HOUSES.as_bytes()[..cut], "cut.csv", &opts);
    }
}
