//! Helpers for the `#[pg_test]` modules.

use pgrx::prelude::*;

/// Runs `query` and returns the SQLSTATE it raised, or None when it succeeded.
pub fn sqlstate_of(query: &str) -> Option<String> {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN EXECUTE q; RETURN NULL; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$",
    )
    .unwrap();
    Spi::get_one_with_args::<String>("SELECT pg_temp.sqlstate_of($1)", &[query.into()]).unwrap()
}

pub fn bool_query(query: &str, args: &[&str]) -> bool {
    let args: Vec<pgrx::datum::DatumWithOid> = args.iter().map(|a| (*a).into()).collect();
    Spi::get_one_with_args::<bool>(query, &args).unwrap().expect("query returned NULL")
}

pub fn text_query(query: &str, args: &[&str]) -> Option<String> {
    let args: Vec<pgrx::datum::DatumWithOid> = args.iter().map(|a| (*a).into()).collect();
    Spi::get_one_with_args::<String>(query, &args).unwrap()
}
