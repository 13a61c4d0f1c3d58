//! `sqlx::migrate!` embeds `migrations/` at compile time; without this a new migration file
//! does not rebuild the crate, and tests run against the previous set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
