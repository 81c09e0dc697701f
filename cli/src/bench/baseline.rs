//! `rill bench baseline`: the ceiling for broker figures on this machine.
//!
//! A sender writes frames of exactly the size of a Rill Produce request carrying one
//! batch of `--batch-size` records of `--message-size` bytes, over loopback TCP with
//! `TCP_NODELAY`, up to `--max-in-flight` unanswered; the receiving side decodes the
//! frames with the same codec as the broker, discards them and answers each with a
//! frame the size of a one-partition Produce response. No storage, no validation: what
//! remains is the socket path a broker cannot avoid. Latency is send to answer.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use rill_protocol::batch::{BatchBuilder, RecordInput};
use rill_protocol::frame::{FrameCodec, MAX_FRAME_BYTES_DEFAULT};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::FramedRead;

use super::args::BaselineArgs;
use super::payload;
use super::progress::{Counters, Progress};
use super::report::{ClientStats, Report};

/// Request header and Produce fields around the batch (api key, version, correlation
/// id, client id, acks, timeout, topic and partition arrays), rounded up.
const PRODUCE_OVERHEAD_BYTES: usize = 64;
/// Size of a one-partition Produce response frame.
const RESPONSE_BYTES: usize = 64;

/// Runs `rill bench baseline`.
pub async fn run(args: BaselineArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 || args.max_in_flight == 0 {
        anyhow::bail!("--batch-size and --max-in-flight must be at least 1");
    }
    let frame = request_frame(&args)?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on loopback")?;
    let addr = listener.local_addr().context("no local address")?;
    tokio::spawn(accept_loop(listener));
    let counters = Arc::new(Counters::default());
    let progress = Progress::start("baseline", Arc::clone(&counters), None, args.json);
    let started = Instant::now();
    let deadline = started + args.duration;
    let mut tasks = Vec::new();
    for index in 0..args.producers {
        let sender = Sender {
            name: format!("sender {index}"),
            frame: frame.clone(),
            args: args.clone(),
            counters: Arc::clone(&counters),
        };
        tasks.push(tokio::spawn(sender.run(addr, deadline)));
    }
    let mut clients = Vec::new();
    let mut last = started;
    for task in tasks {
        let stats = task.await.context("sender task failed")??;
        last = last.max(started + stats.elapsed);
        clients.push(stats);
    }
    progress.finish();
    let mut parameters = serde_json::to_value(&args).context("cannot encode parameters")?;
    parameters["frame_bytes"] = frame.len().into();
    Report::new("baseline", &clients, last - started, parameters)?.print(args.json)
}

/// One framed request of the size Rill would send: prefix, overhead, a real batch.
fn request_frame(args: &BaselineArgs) -> anyhow::Result<Bytes> {
    let value = payload(args.message_size);
    let mut builder = BatchBuilder::with_capacity(
        rill_protocol::batch::Compression::None,
        args.batch_size * (args.message_size + 16),
    );
    let record = RecordInput {
        timestamp: 0,
        key: None,
        value: Some(value),
        headers: Vec::new(),
    };
    for _ in 0..args.batch_size {
        builder.append(&record).context("cannot encode a record")?;
    }
    let batch = builder.build().context("cannot encode a batch")?;
    let len = PRODUCE_OVERHEAD_BYTES + batch.len();
    let mut frame = BytesMut::with_capacity(4 + len);
    frame.put_u32(u32::try_from(len).context("frame too large")?);
    frame.put_bytes(0, PRODUCE_OVERHEAD_BYTES);
    frame.extend_from_slice(&batch);
    Ok(frame.freeze())
}

/// Serves every connection with a discarding reader.
async fn accept_loop(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(discard(stream));
    }
}

/// Reads frames, drops them, answers each with a response-sized frame.
async fn discard(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::new(MAX_FRAME_BYTES_DEFAULT));
    let mut response = BytesMut::with_capacity(4 + RESPONSE_BYTES);
    response.put_u32(RESPONSE_BYTES as u32);
    response.put_bytes(0, RESPONSE_BYTES);
    let response = response.freeze();
    while let Some(frame) = frames.next().await {
        drop(frame.map_err(std::io::Error::other)?);
        write.write_all(&response).await?;
    }
    Ok(())
}

/// One sending connection.
struct Sender {
    name: String,
    frame: Bytes,
    args: BaselineArgs,
    counters: Arc<Counters>,
}

impl Sender {
    async fn run(
        self,
        addr: std::net::SocketAddr,
        deadline: Instant,
    ) -> anyhow::Result<ClientStats> {
        let started = Instant::now();
        let stream = TcpStream::connect(addr).await.context("cannot connect")?;
        stream.set_nodelay(true).context("cannot set TCP_NODELAY")?;
        let (read, mut write) = stream.into_split();
        let window = Arc::new(Semaphore::new(self.args.max_in_flight));
        let (sent_tx, sent_rx) = mpsc::unbounded_channel::<Instant>();
        let stats = ClientStats::new(&self.name)?;
        let answers = FramedRead::new(read, FrameCodec::new(MAX_FRAME_BYTES_DEFAULT));
        let messages = self.args.batch_size as u64;
        let bytes = messages * self.args.message_size as u64;
        let acker = tokio::spawn(acks(
            answers,
            sent_rx,
            Arc::clone(&window),
            stats,
            messages,
            bytes,
        ));
        while Instant::now() < deadline {
            let permit = window.acquire().await.context("window closed")?;
            permit.forget();
            if sent_tx.send(Instant::now()).is_err() {
                break;
            }
            write.write_all(&self.frame).await.context("cannot write")?;
            self.counters.add(messages, bytes);
        }
        drop(sent_tx);
        let mut stats = acker.await.context("ack task failed")??;
        write.shutdown().await.ok();
        stats.elapsed = started.elapsed();
        Ok(stats)
    }
}

/// Matches answers to sends, in order, and frees a window slot per answer.
async fn acks(
    mut answers: FramedRead<tokio::net::tcp::OwnedReadHalf, FrameCodec>,
    mut sent: mpsc::UnboundedReceiver<Instant>,
    window: Arc<Semaphore>,
    mut stats: ClientStats,
    messages: u64,
    bytes: u64,
) -> anyhow::Result<ClientStats> {
    while let Some(at) = sent.recv().await {
        let answer = answers.next().await.context("receiver closed early")?;
        answer.context("bad answer frame")?;
        stats.record_latency(at.elapsed(), messages);
        stats.messages += messages;
        stats.bytes += bytes;
        window.add_permits(1);
    }
    Ok(stats)
}
