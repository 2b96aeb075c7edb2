//! The webex-api client on its own: who am I, send a message, read a room page by page.
//!
//! `cargo run -p moltbot-examples --example webex_client`: with `WEBEX_BOT_TOKEN` unset it starts a
//! local webex-sim with a bot and Alice, so it runs without a Webex account. With a real token,
//! set `WEBEX_TO=someone@example.com` too: the bot sends them one message.

use futures::TryStreamExt;
use webex_api::{ClientConfig, CreateMessage, ListMessages, MessageTarget, WebexClient};
use webex_sim::SimServer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A real bot, or the emulator with a bot and Alice in it.
    let (config, to, _sim) = match std::env::var("WEBEX_BOT_TOKEN") {
        Ok(token) => {
            let to = std::env::var("WEBEX_TO").map_err(|_| anyhow::anyhow!("set WEBEX_TO"))?;
            (ClientConfig::new(token), to, None)
        }
        Err(_) => {
            let sim = SimServer::start().await?;
            let bot = sim.add_bot("molty@webex.bot", "Molty");
            let alice = sim.add_person("alice@example.com", "Alice");
            // A bot may not open a 1:1 chat (Webex answers 403): Alice writes first.
            sim.as_user(&alice).dm_bot("hi bot").await;
            let config = ClientConfig::new(bot.token).with_base_url_str(&sim.api_base())?;
            (config, alice.email, Some(sim))
        }
    };
    let client = WebexClient::new(config)?;

    let me = client.people_me().await?;
    println!("I am {} <{}>", me.display_name, me.emails.join(", "));

    let sent = client
        .create_message(&CreateMessage::markdown(
            MessageTarget::PersonEmail(to.clone()),
            "Hello from **webex-api**",
        ))
        .await?;
    println!("sent {} to {to} in room {}", sent.id, sent.room_id);

    // Messages come as a stream of pages that follows Webex's `Link: <...>; rel="next"` headers.
    let mut pages = client.list_messages(&ListMessages::in_room(&sent.room_id).with_max(50));
    while let Some(page) = pages.try_next().await? {
        for message in page.items {
            let text = message.text.unwrap_or_default();
            println!("  {}: {text}", message.person_email);
        }
    }
    Ok(())
}
