//! The SQL that writes the app's tables (users, organizations, memberships), built once per
//! configuration from the tables' columns: every configured identifier quoted, every value a
//! parameter.

pub mod ident;
pub mod memberships_sql;
pub mod organizations_sql;
pub mod subscription_items_sql;
pub mod users_sql;
