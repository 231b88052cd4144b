//! Misuse of the attribute macros is a compile error that names the problem (trybuild compares
//! each case's compiler output with its `.stderr` file; `TRYBUILD=overwrite` regenerates them).

#[test]
fn misuse_is_a_compile_error_naming_the_problem() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
