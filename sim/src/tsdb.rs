//! Prometheus TSDB blocks written directly (the on-disk format of Prometheus 2.42: index
//! format v2, chunk segments of XOR chunks), so a Prometheus started on the directory
//! serves the history at once, without remote write or `promtool`'s text backfill.
//!
//! The sink keeps one open XOR chunk per series and streams every finished chunk (120
//! samples, or the end of a block) to the block's chunk segment; when time reaches the
//! next block range the block's index, tombstones and meta.json are written and the
//! block's directory is renamed from `<ULID>.tmp` to `<ULID>`. Memory holds the open
//! chunks and the chunk references of one block.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::Model;
use crate::output::Sink;
use crate::registry::{Series, Target};

/// The default block length: one UTC day.
pub const DEFAULT_BLOCK_HOURS: u32 = 24;
/// Prometheus cuts a head chunk at 120 samples.
const SAMPLES_PER_CHUNK: u16 = 120;
/// A chunk segment file is at most 512 MiB.
const SEGMENT_MAX: u64 = 512 << 20;
const SEGMENT_HEADER: u64 = 8;
const CHUNKS_MAGIC: u32 = 0x85BD_40DD;
const INDEX_MAGIC: u32 = 0xBAAA_D700;
const TOMBSTONES_MAGIC: u32 = 0x0130_BA30;
const ENC_XOR: u8 = 1;

// ---------------------------------------------------------------------------------------
// CRC32 (Castagnoli), slicing by 8.

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

static CRC: [[u32; 256]; 8] = crc_tables();

/// Continues a CRC32-C over `data` (start with 0).
pub fn crc32c_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    let mut words = data.chunks_exact(8);
    for b in &mut words {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) ^ c;
        let hi = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        c = CRC[7][(lo & 0xff) as usize]
            ^ CRC[6][((lo >> 8) & 0xff) as usize]
            ^ CRC[5][((lo >> 16) & 0xff) as usize]
            ^ CRC[4][(lo >> 24) as usize]
            ^ CRC[3][(hi & 0xff) as usize]
            ^ CRC[2][((hi >> 8) & 0xff) as usize]
            ^ CRC[1][((hi >> 16) & 0xff) as usize]
            ^ CRC[0][(hi >> 24) as usize];
    }
    for &b in words.remainder() {
        c = CRC[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// CRC32-C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_update(0, data)
}

// ---------------------------------------------------------------------------------------
// Encoding helpers (Go's encoding/binary varints, big-endian fixed widths).

fn put_uvarint(b: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        b.push((x as u8) | 0x80);
        x >>= 7;
    }
    b.push(x as u8);
}

fn put_varint(b: &mut Vec<u8>, x: i64) {
    put_uvarint(b, zigzag(x));
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put_uvarint(b, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

fn put_be32(b: &mut Vec<u8>, x: u32) {
    b.extend_from_slice(&x.to_be_bytes());
}

fn u32_of(x: usize, what: &str) -> io::Result<u32> {
    u32::try_from(x).map_err(|_| io::Error::other(format!("{what} {x} exceeds 32 bits")))
}

// ---------------------------------------------------------------------------------------
// XOR chunks, as Prometheus' chunkenc encodes them.

/// One XOR chunk being appended to: the 2-byte sample count, then the bit stream.
#[derive(Debug)]
pub struct XorChunk {
    buf: Vec<u8>,
    /// Unused low bits of the last byte.
    free: u32,
    num: u16,
    mint: i64,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `x` fits the `n`-bit delta-of-delta bucket (Prometheus' `bitRange`: one more
/// positive value than negative).
fn bit_range(x: i64, n: u32) -> bool {
    -((1i64 << (n - 1)) - 1) <= x && x <= 1i64 << (n - 1)
}

impl XorChunk {
    pub fn new() -> Self {
        Self {
            buf: vec![0, 0],
            free: 0,
            num: 0,
            mint: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Empties the chunk, keeping its buffer.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0, 0]);
        self.free = 0;
        self.num = 0;
        self.t_delta = 0;
        self.leading = 0xff;
        self.trailing = 0;
    }

    pub fn num_samples(&self) -> u16 {
        self.num
    }

    /// The chunk's data (count header included).
    pub fn bytes(&mut self) -> &[u8] {
        let n = self.num.to_be_bytes();
        self.buf[0] = n[0];
        self.buf[1] = n[1];
        &self.buf
    }

    /// Writes the low `n` bits of `v`, most significant first.
    fn write_bits(&mut self, v: u64, mut n: u32) {
        while n > 0 {
            if self.free == 0 {
                self.buf.push(0);
                self.free = 8;
            }
            let k = self.free.min(n);
            let bits = ((v >> (n - k)) & ((1u64 << k) - 1)) as u8;
            *self.buf.last_mut().expect("pushed above") |= bits << (self.free - k);
            self.free -= k;
            n -= k;
        }
    }

    fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_bits(u64::from(b), 8);
        }
    }

    /// Appends a sample; timestamps must increase.
    pub fn append(&mut self, t: i64, v: f64) {
        let v = v.to_bits();
        let mut t_delta = 0;
        let mut b = [0u8; 10];
        match self.num {
            0 => {
                self.mint = t;
                let n = uvarint_into(&mut b, zigzag(t));
                self.write_bytes(&b[..n]);
                self.write_bits(v, 64);
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let n = uvarint_into(&mut b, t_delta);
                self.write_bytes(&b[..n]);
                self.write_value(v);
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.write_bits(0, 1);
                } else if bit_range(dod, 14) {
                    self.write_bits(0b10, 2);
                    self.write_bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    self.write_bits(0b110, 3);
                    self.write_bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    self.write_bits(0b1110, 4);
                    self.write_bits(dod as u64, 20);
                } else {
                    self.write_bits(0b1111, 4);
                    self.write_bits(dod as u64, 64);
                }
                self.write_value(v);
            }
        }
        self.t = t;
        self.v = v;
        self.t_delta = t_delta;
        self.num += 1;
    }

    fn write_value(&mut self, v: u64) {
        let delta = v ^ self.v;
        if delta == 0 {
            self.write_bits(0, 1);
            return;
        }
        self.write_bits(1, 1);
        // At most 31 leading zeros: the count has 5 bits.
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.write_bits(0, 1);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.write_bits(delta >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.write_bits(1, 1);
            self.write_bits(u64::from(leading), 5);
            // 64 significant bits are written as 0 (6 bits); 0 never occurs (delta != 0).
            let sig = 64 - u32::from(leading) - u32::from(trailing);
            self.write_bits(u64::from(sig), 6);
            self.write_bits(delta >> trailing, sig);
        }
    }
}

fn zigzag(x: i64) -> u64 {
    ((x as u64) << 1) ^ ((x >> 63) as u64)
}

fn uvarint_into(b: &mut [u8; 10], mut ux: u64) -> usize {
    let mut i = 0;
    while ux >= 0x80 {
        b[i] = (ux as u8) | 0x80;
        ux >>= 7;
        i += 1;
    }
    b[i] = ux as u8;
    i + 1
}

// ---------------------------------------------------------------------------------------
// Chunk segments.

/// Writes a block's `chunks/000001`, `000002`, ... as chunks arrive.
struct ChunkWriter {
    dir: PathBuf,
    /// Index of the current segment (0 for 000001), if one is open.
    seq: Option<u32>,
    file: Option<BufWriter<File>>,
    pos: u64,
}

impl ChunkWriter {
    fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            seq: None,
            file: None,
            pos: 0,
        }
    }

    fn cut(&mut self) -> io::Result<()> {
        self.close_segment()?;
        let seq = self.seq.map_or(0, |s| s + 1);
        let f = File::create(self.dir.join(format!("{:06}", seq + 1)))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(&CHUNKS_MAGIC.to_be_bytes())?;
        w.write_all(&[1, 0, 0, 0])?;
        self.seq = Some(seq);
        self.file = Some(w);
        self.pos = SEGMENT_HEADER;
        Ok(())
    }

    fn close_segment(&mut self) -> io::Result<()> {
        if let Some(w) = self.file.take() {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
        }
        Ok(())
    }

    /// Appends one XOR chunk; returns its reference (segment index << 32 | offset).
    fn write(&mut self, data: &[u8]) -> io::Result<u64> {
        let mut head = Vec::with_capacity(11);
        put_uvarint(&mut head, data.len() as u64);
        head.push(ENC_XOR);
        let size = (head.len() + data.len() + 4) as u64;
        if self.file.is_none() || (self.pos > SEGMENT_HEADER && self.pos + size > SEGMENT_MAX) {
            self.cut()?;
        }
        let seq = self.seq.expect("cut above");
        let r = (u64::from(seq) << 32) | self.pos;
        let crc = crc32c_update(crc32c(&[ENC_XOR]), data);
        let w = self.file.as_mut().expect("cut above");
        w.write_all(&head)?;
        w.write_all(data)?;
        w.write_all(&crc.to_be_bytes())?;
        self.pos += size;
        Ok(r)
    }
}

// ---------------------------------------------------------------------------------------
// Series and blocks.

type Labels = Box<[(Arc<str>, Arc<str>)]>;

#[derive(Clone, Copy, Debug)]
struct ChunkMeta {
    mint: i64,
    maxt: i64,
    r: u64,
}

/// A series' label set (built once) and its chunks in the current block.
struct Track {
    labels: Labels,
    chunk: XorChunk,
    metas: Vec<ChunkMeta>,
}

impl Track {
    fn new(labels: Labels) -> Self {
        Self {
            labels,
            chunk: XorChunk::new(),
            metas: Vec::new(),
        }
    }

    fn push(&mut self, t: i64, v: f64, block: &mut Block) -> io::Result<()> {
        self.chunk.append(t, v);
        block.samples += 1;
        if self.chunk.num_samples() >= SAMPLES_PER_CHUNK {
            self.cut(block)?;
        }
        Ok(())
    }

    /// Writes the open chunk, if it has samples.
    fn cut(&mut self, block: &mut Block) -> io::Result<()> {
        if self.chunk.num_samples() == 0 {
            return Ok(());
        }
        let r = block.chunks.write(self.chunk.bytes())?;
        self.metas.push(ChunkMeta {
            mint: self.chunk.mint,
            maxt: self.chunk.t,
            r,
        });
        block.num_chunks += 1;
        self.chunk.reset();
        Ok(())
    }
}

fn up_track_labels(tg: &Target) -> Labels {
    track_labels(
        "up".into(),
        [
            ("instance".into(), tg.instance.as_str().into()),
            ("job".into(), tg.job.as_str().into()),
            ("service".into(), tg.service.as_str().into()),
        ]
        .into_iter(),
    )
}

fn series_track_labels(s: &Series) -> Labels {
    track_labels(s.metric.clone(), s.labels.iter().cloned())
}

/// `__name__` and the labels, sorted by name, without those of empty value: Prometheus'
/// head drops them when a series is created (from remote write or a backfill), as a label
/// of empty value is one not there.
fn track_labels(metric: Arc<str>, labels: impl Iterator<Item = (Arc<str>, Arc<str>)>) -> Labels {
    let mut v: Vec<(Arc<str>, Arc<str>)> = std::iter::once(("__name__".into(), metric))
        .chain(labels)
        .filter(|(_, value)| !value.is_empty())
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_boxed_slice()
}

/// The block being written.
struct Block {
    ulid: String,
    tmp: PathBuf,
    /// End of the block's range (exclusive), ms.
    end: i64,
    chunks: ChunkWriter,
    min_t: i64,
    max_t: i64,
    samples: u64,
    num_chunks: u64,
}

/// Writes Prometheus TSDB blocks into a directory.
pub struct TsdbSink {
    dir: PathBuf,
    block_ms: i64,
    ups: Vec<Option<Track>>,
    series: Vec<Option<Track>>,
    block: Option<Block>,
    last_ts: Option<i64>,
    last_ulid: (u64, u128),
    pub samples: u64,
}

impl TsdbSink {
    /// A sink writing blocks of `block_hours` (aligned to multiples of the length since the
    /// Unix epoch: UTC days for 24) into `dir`, which is created if needed.
    pub fn new(dir: &Path, block_hours: u32) -> io::Result<Self> {
        if block_hours == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the block length must be at least an hour",
            ));
        }
        std::fs::create_dir_all(dir)?;
        // An empty WAL (if there is none): `promtool tsdb dump` opens the directory as a
        // database and needs one; Prometheus starts on it as on no WAL.
        std::fs::create_dir_all(dir.join("wal"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            block_ms: i64::from(block_hours) * 3_600_000,
            ups: Vec::new(),
            series: Vec::new(),
            block: None,
            last_ts: None,
            last_ulid: (0, 0),
            samples: 0,
        })
    }

    /// A new ULID: creation time in ms and 80 random bits, increasing within the process.
    fn next_ulid(&mut self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (last_ms, last_rand) = self.last_ulid;
        let (ms, rand) = if now > last_ms {
            (now, random_bits() & ((1u128 << 80) - 1))
        } else {
            (last_ms, (last_rand + 1) & ((1u128 << 80) - 1))
        };
        self.last_ulid = (ms, rand);
        ulid_string(ms, rand)
    }

    fn start_block(&mut self, ts: i64) -> io::Result<()> {
        let start = ts.div_euclid(self.block_ms) * self.block_ms;
        let ulid = self.next_ulid();
        let tmp = self.dir.join(format!("{ulid}.tmp"));
        std::fs::create_dir_all(tmp.join("chunks"))?;
        self.block = Some(Block {
            chunks: ChunkWriter::new(tmp.join("chunks")),
            ulid,
            tmp,
            end: start + self.block_ms,
            min_t: i64::MAX,
            max_t: i64::MIN,
            samples: 0,
            num_chunks: 0,
        });
        Ok(())
    }

    /// Writes the current block: the open chunks, the index, tombstones and meta.json,
    /// then renames its directory into place.
    fn finish_block(&mut self) -> io::Result<()> {
        let Some(mut block) = self.block.take() else {
            return Ok(());
        };
        let result = self.write_block(&mut block);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&block.tmp);
        }
        for t in self.ups.iter_mut().chain(self.series.iter_mut()).flatten() {
            t.metas.clear();
            t.chunk.reset();
        }
        result
    }

    fn write_block(&mut self, block: &mut Block) -> io::Result<()> {
        for t in self.ups.iter_mut().chain(self.series.iter_mut()).flatten() {
            t.cut(block)?;
        }
        block.chunks.close_segment()?;
        let mut live: Vec<&Track> = self
            .ups
            .iter()
            .chain(self.series.iter())
            .flatten()
            .filter(|t| !t.metas.is_empty())
            .collect();
        if live.is_empty() {
            return std::fs::remove_dir_all(&block.tmp);
        }
        live.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        if let Some(w) = live.windows(2).find(|w| w[0].labels == w[1].labels) {
            return Err(io::Error::other(format!(
                "two series with the label set {}",
                labels_text(&w[0].labels)
            )));
        }
        write_index(&block.tmp.join("index"), &live)?;
        write_synced(&block.tmp.join("tombstones"), &empty_tombstones())?;
        let meta = serde_json::json!({
            "ulid": block.ulid,
            "minTime": block.min_t,
            "maxTime": block.max_t + 1,
            "stats": {
                "numSamples": block.samples,
                "numSeries": live.len(),
                "numChunks": block.num_chunks,
            },
            "compaction": { "level": 1, "sources": [block.ulid] },
            "version": 1,
        });
        let text = serde_json::to_string_pretty(&meta).expect("meta serialises") + "\n";
        write_synced(&block.tmp.join("meta.json"), text.as_bytes())?;
        sync_dir(&block.tmp)?;
        sync_dir(&block.tmp.join("chunks"))?;
        std::fs::rename(&block.tmp, self.dir.join(&block.ulid))?;
        sync_dir(&self.dir)
    }

    /// Writes the last block; returns the number of samples written.
    pub fn finish(mut self) -> io::Result<u64> {
        self.finish_block()?;
        Ok(self.samples)
    }
}

impl Drop for TsdbSink {
    fn drop(&mut self) {
        if let Some(b) = self.block.take() {
            let _ = std::fs::remove_dir_all(&b.tmp);
        }
    }
}

impl Sink for TsdbSink {
    fn tick(&mut self, model: &Model) -> io::Result<()> {
        let reg = &model.reg;
        let ts = model.now_ms();
        if self.last_ts.is_some_and(|l| ts <= l) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("time went back: {ts} ms after {:?}", self.last_ts),
            ));
        }
        self.last_ts = Some(ts);
        if self.block.as_ref().is_some_and(|b| ts >= b.end) {
            self.finish_block()?;
        }
        if self.block.is_none() {
            self.start_block(ts)?;
        }
        let block = self.block.as_mut().expect("started above");
        let before = block.samples;
        if self.ups.len() < reg.targets.len() {
            self.ups.resize_with(reg.targets.len(), || None);
        }
        for (t, tg) in reg.targets.iter().enumerate() {
            let track = self.ups[t].get_or_insert_with(|| Track::new(up_track_labels(tg)));
            track.push(ts, if tg.reachable { 1.0 } else { 0.0 }, block)?;
        }
        if self.series.len() < reg.series.len() {
            self.series.resize_with(reg.series.len(), || None);
        }
        for (i, s) in reg.series.iter().enumerate() {
            if !s.born || !reg.targets[s.target].reachable {
                continue;
            }
            let track = self.series[i].get_or_insert_with(|| Track::new(series_track_labels(s)));
            track.push(ts, s.value, block)?;
        }
        if block.samples > before {
            block.min_t = block.min_t.min(ts);
            block.max_t = block.max_t.max(ts);
        }
        self.samples += block.samples - before;
        Ok(())
    }
}

fn labels_text(l: &[(Arc<str>, Arc<str>)]) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn random_bits() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = 0u128;
    for i in 0..2u32 {
        // RandomState is seeded from the OS once per process and varied per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u32(i);
        out = (out << 64) | u128::from(h.finish());
    }
    out
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ULID's text: 48-bit ms timestamp and 80 random bits, Crockford base32, 26 chars.
pub fn ulid_string(ms: u64, rand: u128) -> String {
    let v: u128 = (u128::from(ms & ((1 << 48) - 1)) << 80) | (rand & ((1u128 << 80) - 1));
    (0..26)
        .map(|i| CROCKFORD[((v >> (5 * (25 - i))) & 31) as usize] as char)
        .collect()
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A tombstones file without tombstones: magic, version 1, CRC32-C of nothing.
fn empty_tombstones() -> Vec<u8> {
    let mut b = Vec::with_capacity(9);
    put_be32(&mut b, TOMBSTONES_MAGIC);
    b.push(1);
    put_be32(&mut b, crc32c(&[]));
    b
}

// ---------------------------------------------------------------------------------------
// The index (format v2).

/// A buffered file that knows its position.
struct PosWriter {
    w: BufWriter<File>,
    pos: u64,
}

impl PosWriter {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self, align: u64) -> io::Result<()> {
        let r = self.pos % align;
        if r == 0 {
            return Ok(());
        }
        self.put(&[0u8; 16][..(align - r) as usize])
    }

    /// `len <4b>`, the body, the body's CRC32-C.
    fn section(&mut self, body: &[u8]) -> io::Result<()> {
        self.put(&u32_of(body.len(), "index section length")?.to_be_bytes())?;
        self.put(body)?;
        self.put(&crc32c(body).to_be_bytes())
    }
}

/// Writes the index of `series`, sorted by label set.
fn write_index(path: &Path, series: &[&Track]) -> io::Result<()> {
    // Symbols: every label name and value, sorted and unique.
    let mut symbols: Vec<&str> = series
        .iter()
        .flat_map(|t| t.labels.iter().flat_map(|(k, v)| [&**k, &**v]))
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    let sym_ref: std::collections::HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32))
        .collect();

    let mut out = PosWriter {
        w: BufWriter::with_capacity(1 << 20, File::create(path)?),
        pos: 0,
    };
    let mut head = Vec::new();
    put_be32(&mut head, INDEX_MAGIC);
    head.push(2);
    out.put(&head)?;

    let mut toc = [0u64; 6];
    toc[0] = out.pos;
    let mut body = Vec::with_capacity(symbols.iter().map(|s| s.len() + 2).sum::<usize>() + 4);
    put_be32(&mut body, u32_of(symbols.len(), "symbol count")?);
    for s in &symbols {
        put_str(&mut body, s);
    }
    out.section(&body)?;

    // Series, 16-byte aligned; (name, value, series ref) of every label for the postings.
    out.pad(16)?;
    toc[1] = out.pos;
    let mut refs = Vec::with_capacity(series.len());
    let mut pairs: Vec<(u32, u32, u32)> = Vec::new();
    for t in series {
        out.pad(16)?;
        let r = u32_of((out.pos / 16) as usize, "series reference")?;
        refs.push(r);
        body.clear();
        put_uvarint(&mut body, t.labels.len() as u64);
        for (k, v) in t.labels.iter() {
            let (kr, vr) = (sym_ref[&**k], sym_ref[&**v]);
            put_uvarint(&mut body, u64::from(kr));
            put_uvarint(&mut body, u64::from(vr));
            pairs.push((kr, vr, r));
        }
        put_chunk_metas(&mut body, &t.metas);
        let mut len = Vec::with_capacity(5);
        put_uvarint(&mut len, body.len() as u64);
        out.put(&len)?;
        out.put(&body)?;
        out.put(&crc32c(&body).to_be_bytes())?;
    }
    // Symbol refs sort as their strings do.
    pairs.sort_unstable();
    write_postings_and_tables(&mut out, &symbols, &refs, &pairs, &mut toc)?;
    out.w.flush()?;
    out.w.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn put_chunk_metas(b: &mut Vec<u8>, metas: &[ChunkMeta]) {
    put_uvarint(b, metas.len() as u64);
    let Some(first) = metas.first() else {
        return;
    };
    put_varint(b, first.mint);
    put_uvarint(b, (first.maxt - first.mint) as u64);
    put_uvarint(b, first.r);
    let (mut t0, mut r0) = (first.maxt, first.r as i64);
    for c in &metas[1..] {
        put_uvarint(b, (c.mint - t0) as u64);
        put_uvarint(b, (c.maxt - c.mint) as u64);
        put_varint(b, c.r as i64 - r0);
        t0 = c.maxt;
        r0 = c.r as i64;
    }
}

/// Label indices, postings (all series first), the label offset table, the postings
/// offset table and the TOC.
fn write_postings_and_tables(
    out: &mut PosWriter,
    symbols: &[&str],
    refs: &[u32],
    pairs: &[(u32, u32, u32)],
    toc: &mut [u64; 6],
) -> io::Result<()> {
    // Runs of one (name, value).
    let mut runs: Vec<(u32, u32, std::ops::Range<usize>)> = Vec::new();
    let mut i = 0;
    while i < pairs.len() {
        let (k, v, _) = pairs[i];
        let mut j = i + 1;
        while j < pairs.len() && pairs[j].0 == k && pairs[j].1 == v {
            j += 1;
        }
        runs.push((k, v, i..j));
        i = j;
    }

    // Label indices: per name, its values (as 4-byte symbol refs). Prometheus 2.42 still
    // writes them, though its reader of format v2 uses the postings offset table instead.
    toc[2] = out.pos;
    let mut body = Vec::new();
    let mut label_offsets: Vec<(u32, u64)> = Vec::new();
    let mut i = 0;
    while i < runs.len() {
        let name = runs[i].0;
        let mut j = i;
        while j < runs.len() && runs[j].0 == name {
            j += 1;
        }
        out.pad(4)?;
        label_offsets.push((name, out.pos));
        body.clear();
        put_be32(&mut body, 1);
        put_be32(&mut body, u32_of(j - i, "label values")?);
        for r in &runs[i..j] {
            put_be32(&mut body, r.1);
        }
        out.section(&body)?;
        i = j;
    }

    // Postings, 4-byte aligned.
    out.pad(4)?;
    toc[4] = out.pos;
    let mut posting_offsets: Vec<(&str, &str, u64)> = Vec::with_capacity(runs.len() + 1);
    let mut write_list = |out: &mut PosWriter, ids: &mut dyn Iterator<Item = u32>, n: usize| {
        out.pad(4)?;
        let at = out.pos;
        body.clear();
        put_be32(&mut body, u32_of(n, "postings length")?);
        for id in ids {
            put_be32(&mut body, id);
        }
        out.section(&body)?;
        Ok::<u64, io::Error>(at)
    };
    let at = write_list(out, &mut refs.iter().copied(), refs.len())?;
    posting_offsets.push(("", "", at));
    for (k, v, range) in &runs {
        let at = write_list(
            out,
            &mut pairs[range.clone()].iter().map(|p| p.2),
            range.len(),
        )?;
        posting_offsets.push((symbols[*k as usize], symbols[*v as usize], at));
    }

    // Label offset table.
    toc[3] = out.pos;
    let mut body = Vec::new();
    put_be32(&mut body, u32_of(label_offsets.len(), "label names")?);
    for (name, off) in &label_offsets {
        put_uvarint(&mut body, 1);
        put_str(&mut body, symbols[*name as usize]);
        put_uvarint(&mut body, *off);
    }
    out.section(&body)?;

    // Postings offset table.
    toc[5] = out.pos;
    body.clear();
    put_be32(&mut body, u32_of(posting_offsets.len(), "postings")?);
    for (name, value, off) in &posting_offsets {
        put_uvarint(&mut body, 2);
        put_str(&mut body, name);
        put_str(&mut body, value);
        put_uvarint(&mut body, *off);
    }
    out.section(&body)?;

    // TOC.
    body.clear();
    for x in toc.iter() {
        body.extend_from_slice(&x.to_be_bytes());
    }
    let crc = crc32c(&body);
    put_be32(&mut body, crc);
    out.put(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads bits as Prometheus' bstreamReader does.
    struct Bits<'a> {
        b: &'a [u8],
        pos: usize,
    }

    impl Bits<'_> {
        fn bit(&mut self) -> bool {
            let byte = self.b[self.pos / 8];
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            self.pos += 1;
            bit == 1
        }

        fn bits(&mut self, n: u32) -> u64 {
            let mut v = 0;
            for _ in 0..n {
                v = (v << 1) | u64::from(self.bit());
            }
            v
        }

        fn uvarint(&mut self) -> u64 {
            let mut x = 0u64;
            let mut shift = 0;
            loop {
                let b = self.bits(8);
                x |= (b & 0x7f) << shift;
                if b < 0x80 {
                    return x;
                }
                shift += 7;
            }
        }

        fn varint(&mut self) -> i64 {
            let ux = self.uvarint();
            let x = (ux >> 1) as i64;
            if ux & 1 != 0 { !x } else { x }
        }
    }

    /// Decodes an XOR chunk (with its count header).
    fn decode(data: &[u8]) -> Vec<(i64, u64)> {
        let n = u16::from_be_bytes([data[0], data[1]]);
        let mut r = Bits {
            b: &data[2..],
            pos: 0,
        };
        let mut out = Vec::new();
        let (mut t, mut v, mut t_delta) = (0i64, 0u64, 0u64);
        let (mut leading, mut trailing) = (0u32, 0u32);
        for i in 0..n {
            if i == 0 {
                t = r.varint();
                v = r.bits(64);
                out.push((t, v));
                continue;
            }
            if i == 1 {
                t_delta = r.uvarint();
            } else {
                let mut d = 0;
                for _ in 0..4 {
                    d <<= 1;
                    if !r.bit() {
                        break;
                    }
                    d |= 1;
                }
                let dod: i64 = match d {
                    0 => 0,
                    0b1111 => r.bits(64) as i64,
                    _ => {
                        let sz = match d {
                            0b10 => 14,
                            0b110 => 17,
                            _ => 20,
                        };
                        let mut b = r.bits(sz) as i64;
                        if b > 1 << (sz - 1) {
                            b -= 1 << sz;
                        }
                        b
                    }
                };
                t_delta = (t_delta as i64 + dod) as u64;
            }
            t += t_delta as i64;
            if r.bit() {
                if r.bit() {
                    leading = r.bits(5) as u32;
                    let mut sig = r.bits(6) as u32;
                    if sig == 0 {
                        sig = 64;
                    }
                    trailing = 64 - leading - sig;
                }
                let sig = 64 - leading - trailing;
                v ^= r.bits(sig) << trailing;
            }
            out.push((t, v));
        }
        // Only zero padding after the last sample.
        assert!(r.pos <= (data.len() - 2) * 8 && (data.len() - 2) * 8 - r.pos < 8);
        out
    }

    fn round_trip(samples: &[(i64, f64)]) {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v);
        }
        let got = decode(c.bytes());
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn tsdb_crc32c_known_vector() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // Slicing by 8 agrees with byte-at-a-time over every split.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = crc32c(&data);
        for split in [0, 1, 7, 8, 9, 500, 999] {
            assert_eq!(crc32c_update(crc32c(&data[..split]), &data[split..]), whole);
        }
    }

    #[test]
    fn tsdb_xor_counters() {
        let mut v = 0.0;
        let s: Vec<(i64, f64)> = (0..120)
            .map(|i| {
                v += f64::from((i * 37) % 11);
                (1_700_000_000_000 + i64::from(i) * 60_000, v)
            })
            .collect();
        round_trip(&s);
        // Fractional counters (durations' sums).
        let mut v = 0.0;
        let s: Vec<(i64, f64)> = (0..120)
            .map(|i| {
                v += 0.013 * f64::from(i % 7) + 1e-9;
                (i64::from(i) * 15_000, v)
            })
            .collect();
        round_trip(&s);
    }

    #[test]
    fn tsdb_xor_gauges_and_special_values() {
        let s: Vec<(i64, f64)> = (0..120)
            .map(|i| (i64::from(i) * 30_000, (f64::from(i) * 0.7).sin() * 1e3))
            .collect();
        round_trip(&s);
        round_trip(&[
            (0, f64::NAN),
            (1000, 1.0),
            (2000, f64::INFINITY),
            (3000, f64::NEG_INFINITY),
            (4000, f64::NAN),
            (5000, -0.0),
            (6000, 0.0),
            (7000, f64::MIN_POSITIVE),
            (8000, f64::MAX),
            (9000, f64::from_bits(1)),
            (10_000, -1.5e300),
        ]);
        round_trip(&[(5, 42.0); 1][..]);
        let eq: Vec<(i64, f64)> = (0..120).map(|i| (i * 1000, 7.25)).collect();
        round_trip(&eq);
        // 64 significant bits (leading and trailing zero counts both 0).
        round_trip(&[
            (0, f64::from_bits(0)),
            (1, f64::from_bits(0x8000_0000_0000_0001)),
            (2, f64::from_bits(0)),
            (3, f64::from_bits(0xffff_ffff_ffff_ffff)),
        ]);
    }

    #[test]
    fn tsdb_xor_irregular_timestamps() {
        // Every delta-of-delta bucket and its edges, both signs.
        let mut dods = vec![0i64, 1, -1, 8191, 8192, -8191, -8192, 65536, -65535, -65536];
        dods.extend([
            524_288,
            -524_287,
            -524_288,
            524_289,
            10_000_000,
            -10_000_000,
        ]);
        let mut t = -5_000_000_000i64;
        let mut delta = 20_000_000i64;
        let mut s = vec![(t, 1.0)];
        for (i, d) in dods.iter().enumerate() {
            delta += d;
            t += delta;
            s.push((t, i as f64));
        }
        round_trip(&s);
        round_trip(&[(1, 1.0), (1_000_000_000_000, 2.0)]);
        round_trip(&[(0, 1.0), (60_000, 1.0), (60_001, 1.0), (3_600_000, 3.0)]);
    }

    #[test]
    fn tsdb_xor_known_bytes() {
        // Worked by hand from the format: t0=1000 (varint 0xd0 0x0f), v0=1.0, delta 1000
        // (uvarint 0xe8 0x07), v1=1.0 ('0'), dod 0 ('0'), v2=2.0: xor 0x7ff0...; 1 leading
        // zero, 52 trailing, 11 significant: '1' '1' 00001 001011 11111111111.
        let mut c = XorChunk::new();
        c.append(1000, 1.0);
        c.append(2000, 1.0);
        c.append(3000, 2.0);
        let mut want = vec![0, 3, 0xd0, 0x0f];
        want.extend(1.0f64.to_bits().to_be_bytes());
        want.extend([0xe8, 0x07]);
        // bits: 0 0 1 1 00001 001011 11111111111 + 6 padding bits
        // 0011 0000 | 1001 0111 | 1111 1111 | 1100 0000
        want.extend([0x30, 0x97, 0xff, 0xc0]);
        assert_eq!(c.bytes(), &want[..]);
    }

    #[test]
    fn tsdb_ulid_text() {
        let u = ulid_string(0x0170_0000_0000, 0x1234_5678_9abc_def0_1234);
        assert_eq!(u.len(), 26);
        assert!(u.bytes().all(|b| CROCKFORD.contains(&b)));
        assert_eq!(ulid_string(0, 0), "00000000000000000000000000");
        assert_eq!(
            ulid_string((1 << 48) - 1, u128::MAX),
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
        );
        // The timestamp is the first 10 characters.
        assert_eq!(&ulid_string(1, 0)[..10], "0000000001");
        assert_eq!(&ulid_string(1, 0)[10..], "0000000000000000");
    }

    #[test]
    fn tsdb_tombstones_and_chunk_metas() {
        assert_eq!(empty_tombstones(), [0x01, 0x30, 0xBA, 0x30, 1, 0, 0, 0, 0]);
        let mut b = Vec::new();
        put_chunk_metas(
            &mut b,
            &[
                ChunkMeta {
                    mint: 1000,
                    maxt: 2000,
                    r: 8,
                },
                ChunkMeta {
                    mint: 3000,
                    maxt: 3500,
                    r: (1 << 32) | 8,
                },
            ],
        );
        // 2 chunks; varint 1000; uvarint 1000; uvarint 8; 1000; 500; varint (2^32).
        let mut want = vec![2, 0xd0, 0x0f, 0xe8, 0x07, 8, 0xe8, 0x07, 0xf4, 0x03];
        put_varint(&mut want, 1 << 32);
        assert_eq!(b, want);
    }
}
