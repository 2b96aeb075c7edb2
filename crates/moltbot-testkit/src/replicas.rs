//! [`Replicas`]: several `moltbot gateway` replicas of one bot sharing a PostgreSQL store, as
//! an operator runs them: each with a state folder (so a node id) of its own, in webhook mode
//! behind a round-robin [`LoadBalancer`] that the emulator delivers to, or in polling mode
//! (the leader polls). A replica can be SIGKILLed (a crash), stopped with SIGTERM (a rolling
//! restart) and started again in its own home, as a restarted process of the same node.

use std::path::PathBuf;
use std::time::Duration;

use webex_sim::{SimPerson, SimServer};

use crate::balancer::LoadBalancer;
use crate::gateway::{GatewayError, Launch, RunningGateway};
use crate::home::TestHome;
use crate::wait;
use crate::world::{webex_config, OPEN_FAST};

/// How a set of replicas is configured.
#[derive(Debug, Clone)]
pub struct ReplicaSetup {
    /// `channels.webex.mode`: `webhook` (behind the balancer) or `polling`.
    pub mode: String,
    /// `store.url`: the shared PostgreSQL store (a scratch schema in tests).
    pub store_url: String,
    /// `store.leaseSeconds`: the leader's lease and every message's lease.
    pub lease_seconds: u64,
    /// How many replicas.
    pub replicas: usize,
    /// The `moltbot` binary.
    pub binary: PathBuf,
    /// How each replica is started (log level, environment).
    pub launch: Launch,
}

/// The replicas, their homes and (webhook mode) the balancer in front of them.
#[derive(Debug)]
pub struct Replicas {
    homes: Vec<TestHome>,
    running: Vec<Option<RunningGateway>>,
    balancer: Option<LoadBalancer>,
    launch: Launch,
    /// Logs of the processes that ended (killed or stopped), for failure messages.
    past_logs: Vec<String>,
}

/// The config of one replica: the bot on `sim`, open policies without client-side pacing,
/// the shared store, and (webhook mode) the balancer as the webhook's target.
fn replica_config(sim: &SimServer, bot: &SimPerson, setup: &ReplicaSetup, target: &str) -> String {
    let rest = format!(
        "webhook: {{ port: 0, url: \"{target}\" }},\n      \
         polling: {{ intervalSeconds: 1 }},\n      {OPEN_FAST}"
    );
    webex_config(&setup.mode, &sim.api_base(), Some(&bot.token), &rest).replace(
        "  channels: {",
        &format!(
            "  store: {{ url: \"{}\", leaseSeconds: {} }},\n  channels: {{",
            setup.store_url, setup.lease_seconds
        ),
    )
}

impl Replicas {
    /// Writes a home per replica and starts them all (each answering `/readyz`), the balancer
    /// first in webhook mode.
    pub async fn start(
        sim: &SimServer,
        bot: &SimPerson,
        setup: &ReplicaSetup,
    ) -> Result<Self, GatewayError> {
        let balancer = if setup.mode == "webhook" {
            Some(LoadBalancer::start(setup.replicas).await.map_err(|err| {
                GatewayError::NotStarted {
                    why: format!("the load balancer could not listen: {err}"),
                    stderr: String::new(),
                }
            })?)
        } else {
            None
        };
        let target = balancer
            .as_ref()
            .map(|b| format!("{}/webex/webhook", b.url()))
            .unwrap_or_else(|| "http://127.0.0.1:0/webex/webhook".to_string());
        let mut homes = Vec::with_capacity(setup.replicas);
        for _ in 0..setup.replicas {
            let home = TestHome::try_with_binary(&setup.binary).map_err(|err| {
                GatewayError::NotStarted {
                    why: format!("no temp dir: {err}"),
                    stderr: String::new(),
                }
            })?;
            home.try_write_config(&replica_config(sim, bot, setup, &target))
                .map_err(|err| GatewayError::NotStarted {
                    why: format!("cannot write the config: {err}"),
                    stderr: String::new(),
                })?;
            homes.push(home);
        }
        let mut replicas = Self {
            running: (0..homes.len()).map(|_| None).collect(),
            homes,
            balancer,
            launch: setup.launch.clone(),
            past_logs: Vec::new(),
        };
        for i in 0..replicas.homes.len() {
            replicas.start_one(i).await?;
        }
        Ok(replicas)
    }

    /// How many replicas there are (running or not).
    pub fn len(&self) -> usize {
        self.homes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.homes.is_empty()
    }

    /// The balancer in front of them (webhook mode).
    pub fn balancer(&self) -> Option<&LoadBalancer> {
        self.balancer.as_ref()
    }

    /// Replica `i`'s home.
    pub fn home(&self, i: usize) -> Option<&TestHome> {
        self.homes.get(i)
    }

    /// Replica `i`, when it runs.
    pub fn get(&self, i: usize) -> Option<&RunningGateway> {
        self.running.get(i).and_then(Option::as_ref)
    }

    /// Some running replica.
    pub fn any(&self) -> Option<&RunningGateway> {
        self.running.iter().flatten().next()
    }

    /// Starts replica `i` (again, in its own home: the same node) and, once it answers
    /// `/readyz`, puts it behind the balancer. A running replica is left as it is.
    pub async fn start_one(&mut self, i: usize) -> Result<(), GatewayError> {
        let (Some(home), Some(slot)) = (self.homes.get(i), self.running.get(i)) else {
            return Ok(());
        };
        if slot.is_some() {
            return Ok(());
        }
        let gateway = RunningGateway::launch(home, &self.launch).await?;
        if let Some(balancer) = &self.balancer {
            balancer.set(i, Some(&gateway.http));
        }
        self.running[i] = Some(gateway);
        Ok(())
    }

    /// SIGKILLs replica `i` (a crash), if it runs; the balancer then finds it down.
    pub async fn kill(&mut self, i: usize) {
        if let Some(gateway) = self.running.get_mut(i).and_then(Option::take) {
            self.past_logs.push(gateway.stderr_text());
            gateway.kill().await;
        }
        if let Some(balancer) = &self.balancer {
            balancer.set(i, None);
        }
    }

    /// Takes replica `i` out of the balancer (as a health check on `/readyz` would), then
    /// stops it with SIGTERM; returns its exit code (`None`: not running, or killed after
    /// the stop timeout).
    pub async fn stop(&mut self, i: usize) -> Option<i32> {
        if let Some(balancer) = &self.balancer {
            balancer.set(i, None);
        }
        let gateway = self.running.get_mut(i).and_then(Option::take)?;
        let log = gateway.stderr_text();
        let code = gateway.stop().await;
        self.past_logs.push(log);
        code
    }

    /// Stops every running replica (SIGTERM); returns their exit codes.
    pub async fn stop_all(&mut self) -> Vec<Option<i32>> {
        let mut codes = Vec::new();
        for i in 0..self.running.len() {
            if self.get(i).is_some() {
                codes.push(self.stop(i).await);
            }
        }
        codes
    }

    /// The running replica that leads now (its `moltbot_replica_leader` is 1), if one does.
    pub async fn leader(&self) -> Option<usize> {
        for (i, gateway) in self.running.iter().enumerate() {
            let Some(gateway) = gateway else { continue };
            if leads(&gateway.http).await {
                return Some(i);
            }
        }
        None
    }

    /// Waits up to `timeout` for a running replica to lead.
    pub async fn wait_leader(&self, timeout: Duration) -> Option<usize> {
        wait::until_async(timeout, || self.leader()).await.ok()
    }

    /// Every log so far: the ended processes' and the running ones', for failure messages.
    pub fn logs(&self) -> String {
        let mut all = self.past_logs.clone();
        all.extend(
            self.running
                .iter()
                .flatten()
                .map(RunningGateway::stderr_text),
        );
        all.join("\n----\n")
    }
}

/// Whether the gateway at `base` says it leads (`moltbot_replica_leader 1` in its `/metrics`);
/// `false` when it does not answer.
async fn leads(base: &str) -> bool {
    let Ok(resp) = reqwest::get(format!("{base}/metrics")).await else {
        return false;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .any(|line| line.trim() == "moltbot_replica_leader 1")
}
