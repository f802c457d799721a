#[coring::main(workers = 2)]
async fn main() -> u32 {
    7
}
