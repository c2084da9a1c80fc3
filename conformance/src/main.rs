#![forbid(unsafe_code)]
fn main() {
    crew_conformance::puppet::list_fds_if_asked();
    if let crew::Role::Worker(_) = crew::role() {
        crew_conformance::puppet::run();
    }
}
