//! The task that owns the `SpanStore`: applies batches from the ingest channel, completes idle
//! traces on a timer, and publishes snapshots for the views. Ingest never touches the store
//! directly, and views only ever see snapshots.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::ingest::BatchTx;
use crate::model::Batch;
use crate::store::{SpanStore, StoreConfig, StoreSnapshot};

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub store: StoreConfig,
    /// Batches that may wait for the store; together with the receivers' send timeout this
    /// bounds memory held in flight.
    pub channel_capacity: usize,
    /// How often idle traces are completed and a snapshot published.
    pub tick_interval: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            store: StoreConfig::default(),
            channel_capacity: 1024,
            tick_interval: Duration::from_millis(200),
        }
    }
}

pub struct Pipeline {
    pub tx: BatchTx,
    pub snapshots: watch::Receiver<StoreSnapshot>,
    join: JoinHandle<SpanStore>,
}

impl Pipeline {
    pub fn spawn(config: PipelineConfig) -> Pipeline {
        let (tx, rx) = mpsc::channel(config.channel_capacity.max(1));
        let (snap_tx, snapshots) = watch::channel(StoreSnapshot::default());
        let store = SpanStore::new(config.store);
        let join = tokio::spawn(run(store, rx, snap_tx, config.tick_interval));
        Pipeline {
            tx,
            snapshots,
            join,
        }
    }

    /// Waits until every sender is gone and the channel is drained; returns the final store.
    pub async fn finish(self) -> anyhow::Result<SpanStore> {
        drop(self.tx);
        Ok(self.join.await?)
    }
}

/// Most batches the loop applies before it checks the timer, so a flood cannot starve ticks.
const MAX_BATCHES_PER_TURN: usize = 64;

async fn run(
    mut store: SpanStore,
    mut rx: mpsc::Receiver<Batch>,
    snap_tx: watch::Sender<StoreSnapshot>,
    tick_interval: Duration,
) -> SpanStore {
    let mut ticker = tokio::time::interval(tick_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = ticker.tick() => {
                store.tick(Instant::now());
                // Analysis of newly complete traces attaches here.
                drop(store.take_completed());
                snap_tx.send_replace(store.snapshot());
            }
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                let now = Instant::now();
                store.ingest(batch, now);
                for _ in 0..MAX_BATCHES_PER_TURN {
                    match rx.try_recv() {
                        Ok(b) => store.ingest(b, now),
                        Err(_) => break,
                    }
                }
            }
        }
    }
    store.tick(Instant::now());
    drop(store.take_completed());
    snap_tx.send_replace(store.snapshot());
    store
}
