//! List calls as streams of pages that follow `Link: rel="next"`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use reqwest::header::LINK;
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::WebexClient;
use crate::error::{Error, Result};
use crate::link::{parse_next_link, resolve_next};
use crate::models::{Items, Page};
use crate::transport::{decode, Call};

/// A stream of [`Page`]s of a list call. Ends after the last page or after the first error.
///
/// ```no_run
/// # async fn demo(client: webex_api::WebexClient) -> webex_api::Result<()> {
/// use futures::TryStreamExt;
/// let mut pages = client.list_rooms(&webex_api::ListRooms::by_last_activity());
/// while let Some(page) = pages.try_next().await? {
///     for room in page.items { println!("{}", room.title); }
/// }
/// # Ok(()) }
/// ```
pub struct Pages<T> {
    inner: BoxStream<'static, Result<Page<T>>>,
}

enum State {
    Fetch(Url),
    Fail(Error),
    Done,
}

impl<T: DeserializeOwned + Send + 'static> Pages<T> {
    /// Starts at `first`; `sticky` query parameters are re-added to next links that drop them.
    pub(crate) fn new(
        client: WebexClient,
        endpoint: &'static str,
        first: Url,
        sticky: Vec<(String, String)>,
    ) -> Self {
        let inner = stream::unfold(State::Fetch(first), move |state| {
            let client = client.clone();
            let sticky = sticky.clone();
            async move {
                match state {
                    State::Done => None,
                    State::Fail(err) => Some((Err(err), State::Done)),
                    State::Fetch(url) => match fetch(&client, endpoint, &url, &sticky).await {
                        Err(err) => Some((Err(err), State::Done)),
                        Ok((items, Ok(next))) => {
                            let state = next.clone().map_or(State::Done, State::Fetch);
                            Some((Ok(Page { items, next }), state))
                        }
                        // The page is good; the next link is not: hand out the page, then the
                        // error.
                        Ok((items, Err(err))) => {
                            Some((Ok(Page { items, next: None }), State::Fail(err)))
                        }
                    },
                }
            }
        })
        .boxed();
        Self { inner }
    }

    /// A stream that yields `err` once (e.g. the first URL could not be built).
    pub(crate) fn failed(err: Error) -> Self {
        Self {
            inner: stream::once(async move { Err(err) }).boxed(),
        }
    }

    /// The items of every page, in order.
    pub fn items(self) -> BoxStream<'static, Result<T>> {
        self.inner
            .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// Fetches every page and returns all items.
    pub async fn collect_all(self) -> Result<Vec<T>> {
        self.items().try_collect().await
    }
}

type Fetched<T> = (Vec<T>, Result<Option<Url>>);

async fn fetch<T: DeserializeOwned>(
    client: &WebexClient,
    endpoint: &'static str,
    url: &Url,
    sticky: &[(String, String)],
) -> Result<Fetched<T>> {
    let transport = client.transport();
    let call = Call::new(Method::GET, endpoint, url.clone());
    let response = transport.execute(&call).await?;
    let links: Vec<String> = response
        .headers()
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let body: Items<T> = decode(response).await?;
    let next = match parse_next_link(links.iter().map(String::as_str)) {
        None => Ok(None),
        Some(raw) => resolve_next(&raw, url, &transport.config.base_url, sticky).map(Some),
    };
    Ok((body.items, next))
}

impl<T> Stream for Pages<T> {
    type Item = Result<Page<T>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T> std::fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages").finish_non_exhaustive()
    }
}
