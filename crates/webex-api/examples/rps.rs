//! Measures the client's requests per second against a local `webex-sim`, with a budget high
//! enough that the limiter never throttles. Prints the numbers; asserts nothing.
//!
//! `cargo run -p webex-api --example rps --release [-- REQUESTS CONCURRENCY]`

use std::time::Instant;

use futures::StreamExt;
use webex_api::{ClientConfig, CreateMessage, MessageTarget, WebexClient};
use webex_sim::SimServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);

    let sim = SimServer::start().await?;
    let bot = sim.add_bot("rps@webex.bot", "Rps Bot");
    sim.add_person("alice@example.com", "Alice");
    let room = sim.create_room("Bench", &["alice@example.com", "rps@webex.bot"]);
    let mut config = ClientConfig::new(bot.token.clone())
        .with_base_url(sim.api_base().parse()?)
        .with_requests_per_minute(100_000_000);
    config.burst = 1_000;
    let client = WebexClient::new(config)?;

    let reads = run(total, concurrency, |_| {
        let client = client.clone();
        async move { client.people_me().await.map(|_| ()) }
    })
    .await;
    println!("GET  /people/me : {total} requests, concurrency {concurrency}: {reads:.0} req/s");

    let sends = run(total, concurrency, |i| {
        let client = client.clone();
        let message = CreateMessage::text(MessageTarget::Room(room.id.clone()), format!("msg {i}"));
        async move { client.create_message(&message).await.map(|_| ()) }
    })
    .await;
    println!("POST /messages  : {total} requests, concurrency {concurrency}: {sends:.0} req/s");
    Ok(())
}

async fn run<F, Fut>(total: usize, concurrency: usize, call: F) -> f64
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = webex_api::Result<()>>,
{
    let started = Instant::now();
    let failures = futures::stream::iter(0..total)
        .map(call)
        .buffer_unordered(concurrency)
        .filter(|r| futures::future::ready(r.is_err()))
        .count()
        .await;
    if failures > 0 {
        eprintln!("{failures} calls failed");
    }
    total as f64 / started.elapsed().as_secs_f64()
}
