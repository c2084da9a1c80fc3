//! The repository's GUARANTEES.md is the team's shared contract, verbatim, and the model names
//! every guarantee it lists.

use crew_model::Guarantee;

fn repo_copy() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../GUARANTEES.md");
    std::fs::read_to_string(path).expect("GUARANTEES.md at the repository root")
}

#[test]
fn guarantees_md_is_the_shared_contract_verbatim() {
    // The shared contract sits beside the repository (../shared) on developers' machines and in
    // CI; a clone elsewhere has only the copy.
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/GUARANTEES.md");
    match std::fs::read_to_string(shared) {
        Ok(text) => assert_eq!(
            repo_copy(),
            text,
            "GUARANTEES.md differs from ../shared/GUARANTEES.md: copy the shared one over"
        ),
        Err(_) => eprintln!("no ../shared/GUARANTEES.md beside the repository; copy not compared"),
    }
}

#[test]
fn every_guarantee_in_the_contract_is_named_by_the_model() {
    let text = repo_copy();
    for g in Guarantee::ALL {
        let row = format!("| {} |", g.id());
        assert!(
            text.contains(&row),
            "{} is not a row of GUARANTEES.md",
            g.id()
        );
    }
    let rows = text.lines().filter(|l| l.starts_with("| G")).count();
    assert_eq!(
        rows,
        Guarantee::ALL.len(),
        "the model names every guarantee of the contract"
    );
}
