fn main() {
    println!("keepwatch");
}
