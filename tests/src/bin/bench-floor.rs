//! The floor for `credential-process`: a trivial binary that prints a fixed JSON of the same
//! size as cognitoctl's answer (given as the first argument's length).

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let filler = "A".repeat(size.saturating_sub(120));
    println!(
        "{{\"Version\":1,\"AccessKeyId\":\"ASIAFLOORFLOORFLOOR1\",\"SecretAccessKey\":\"0123456789\",\"SessionToken\":\"{filler}\",\"Expiration\":\"2099-01-01T00:00:00Z\"}}"
    );
}
