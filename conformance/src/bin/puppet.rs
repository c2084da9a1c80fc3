//! The puppet worker program: started by a crew primary (the harness), scripted over its channel.
//! See `crew_conformance::puppet`.
#![forbid(unsafe_code)]

fn main() {
    crew_conformance::puppet::list_fds_if_asked();
    match crew::role() {
        crew::Role::Worker(_) => crew_conformance::puppet::run(),
        crew::Role::Primary => {
            eprintln!("puppet: this program is a crew worker; the conformance harness starts it");
            std::process::exit(2);
        }
    }
}
