// A binary as a user writes it, with only `coring` as a dependency.
use std::error::Error;

#[coring::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let listener = coring::net::TcpListener::bind("127.0.0.1:0")?;
    let _ = listener.local_addr()?;
    Ok(())
}
