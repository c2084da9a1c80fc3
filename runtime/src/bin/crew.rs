fn main() {
    println!("crew demo: not built yet");
}
