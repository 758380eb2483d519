//! The journal log: append-only segment files of CRC-framed records, made durable by one
//! `fdatasync` per batch of writes (group commit).
//!
//! A frame is its payload's length (u32, little-endian), the payload's CRC-32 (u32), then the
//! payload. Segments are `NNNNNNNNNNNNNNNN.log` in the `journal-log` folder of the store,
//! numbered upwards; the writer appends to the newest. A crash can leave a torn frame at the
//! end of the newest segment: reading stops at the first frame whose length or checksum is
//! wrong, and the store starts a new segment after recovery, so nothing is appended after a
//! torn frame. Segments are kept after they are folded into sled: history reads finished runs'
//! records from them by location, until a purge deletes the segments it no longer needs.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The folder of the log inside the store's directory.
pub const FOLDER: &str = "journal-log";

const FRAME_HEADER: usize = 8;

/// The segment being appended to.
pub struct Log {
    dir: PathBuf,
    file: File,
    number: u64,
    size: u64,
    /// A write failed part way: the segment may end in a torn frame, so the next write goes
    /// to a new segment.
    broken: bool,
}

/// Where a frame is: its segment, the offset of its header there, and its payload's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
}

/// What reading the segments found.
pub struct Recovered {
    /// Every intact frame's payload with its location, oldest first.
    pub frames: Vec<(Location, Vec<u8>)>,
    /// The segments read (to delete once their content is elsewhere).
    pub segments: Vec<u64>,
    /// Segments where reading stopped before the end (a torn write, or damage), with the
    /// offset where it stopped.
    pub damaged: Vec<(u64, u64)>,
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:016}.log"))
}

/// The numbers of the segments in `dir`, oldest first.
fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut numbers: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Frames a payload written in place: `encode` appends it to `buffer` after room for the
/// frame's header, which is then filled in. Returns the frame's offset in `buffer` and the
/// payload's length.
pub fn frame_with(buffer: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) -> (usize, u32) {
    let at = buffer.len();
    buffer.extend_from_slice(&[0; FRAME_HEADER]);
    encode(buffer);
    let payload = &buffer[at + FRAME_HEADER..];
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(payload);
    buffer[at..at + 4].copy_from_slice(&len.to_le_bytes());
    buffer[at + 4..at + FRAME_HEADER].copy_from_slice(&crc.to_le_bytes());
    (at, len)
}

/// Reads the payload of the frame at `at` in the log's folder `dir`, checking its length and
/// checksum.
pub fn read_at(dir: &Path, at: Location) -> std::io::Result<Vec<u8>> {
    let invalid = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let file = File::open(segment_path(dir, at.segment))?;
    let mut header = [0u8; FRAME_HEADER];
    file.read_exact_at(&mut header, at.offset)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len != at.len {
        return Err(invalid("the journal log's frame is not the one recorded"));
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, at.offset + FRAME_HEADER as u64)?;
    match crc32fast::hash(&payload) == crc {
        true => Ok(payload),
        false => Err(invalid("the journal log's frame fails its checksum")),
    }
}

/// Reads the intact frames of segment `segment`'s bytes; the offset where reading stopped
/// early.
fn read_frames(segment: u64, bytes: &[u8], frames: &mut Vec<(Location, Vec<u8>)>) -> Option<u64> {
    let mut at = 0;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + FRAME_HEADER) else {
            return Some(at as u64);
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let start = at + FRAME_HEADER;
        let Some(payload) = start.checked_add(len).and_then(|end| bytes.get(start..end)) else {
            return Some(at as u64);
        };
        if crc32fast::hash(payload) != crc {
            return Some(at as u64);
        }
        let location = Location {
            segment,
            offset: at as u64,
            len: len as u32,
        };
        frames.push((location, payload.to_vec()));
        at = start + len;
    }
    None
}

impl Log {
    /// Reads the segments numbered `from` on in the store's `dir` (creating the folder if
    /// needed).
    pub fn recover(dir: &Path, from: u64) -> std::io::Result<Recovered> {
        let dir = dir.join(FOLDER);
        std::fs::create_dir_all(&dir)?;
        let mut found = Recovered {
            frames: Vec::new(),
            segments: segments(&dir)?.into_iter().filter(|n| *n >= from).collect(),
            damaged: Vec::new(),
        };
        for &number in &found.segments {
            let bytes = std::fs::read(segment_path(&dir, number))?;
            if let Some(at) = read_frames(number, &bytes, &mut found.frames) {
                found.damaged.push((number, at));
            }
        }
        Ok(found)
    }

    /// Starts a new segment after the newest in the store's `dir`.
    pub fn start(dir: &Path) -> std::io::Result<Log> {
        let dir = dir.join(FOLDER);
        std::fs::create_dir_all(&dir)?;
        let number = segments(&dir)?.last().map_or(1, |n| n + 1);
        let file = create(&dir, number)?;
        Ok(Log {
            dir,
            file,
            number,
            size: 0,
            broken: false,
        })
    }

    /// The segment being appended to.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Bytes in the current segment.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Writes framed bytes (see [`frame_with`]) and makes them durable; returns the segment and
    /// offset where they start.
    pub fn append(&mut self, framed: &[u8]) -> std::io::Result<(u64, u64)> {
        if self.broken {
            self.roll()?;
        }
        let at = (self.number, self.size);
        let written = self
            .file
            .write_all(framed)
            .and_then(|()| self.file.sync_data());
        self.broken = written.is_err();
        self.size += framed.len() as u64;
        written.map(|()| at)
    }

    /// Continues in a new segment; returns the number of the one just closed.
    pub fn roll(&mut self) -> std::io::Result<u64> {
        let closed = self.number;
        self.file = create(&self.dir, closed + 1)?;
        self.number = closed + 1;
        self.size = 0;
        self.broken = false;
        Ok(closed)
    }
}

/// Deletes the segments numbered below `number` in the log's folder `dir` that `keep` does
/// not keep; returns their numbers.
pub fn delete_before(
    dir: &Path,
    number: u64,
    keep: impl Fn(u64) -> bool,
) -> std::io::Result<Vec<u64>> {
    let mut deleted = Vec::new();
    for n in segments(dir)?
        .into_iter()
        .filter(|n| *n < number && !keep(*n))
    {
        std::fs::remove_file(segment_path(dir, n))?;
        deleted.push(n);
    }
    sync_dir(dir)?;
    Ok(deleted)
}

fn create(dir: &Path, number: u64) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, number))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Makes a created or deleted file's directory entry durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(buffer: &mut Vec<u8>, payload: &[u8]) {
        frame_with(buffer, |b| b.extend_from_slice(payload));
    }

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sluice-log-test-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn frames_survive_segments_and_a_torn_tail_is_cut() {
        let dir = temp();
        let mut log = Log::start(&dir).unwrap();
        let mut batch = Vec::new();
        frame(&mut batch, b"one");
        frame(&mut batch, b"");
        log.append(&batch).unwrap();
        assert_eq!(log.roll().unwrap(), 1);
        let mut torn = Vec::new();
        frame(&mut torn, b"two");
        frame(&mut torn, b"three, cut short");
        torn.truncate(torn.len() - 4);
        log.append(&torn).unwrap();
        drop(log);

        let found = Log::recover(&dir, 0).unwrap();
        let frames: Vec<&[u8]> = found.frames.iter().map(|(_, f)| f.as_slice()).collect();
        assert_eq!(frames, [&b"one"[..], b"", b"two"]);
        assert_eq!(found.segments, [1, 2]);
        assert_eq!(found.damaged, [(2, 11)]);
        let (two, _) = found.frames[2];
        assert_eq!(
            two,
            Location {
                segment: 2,
                offset: 0,
                len: 3
            }
        );
        assert_eq!(read_at(&dir.join(FOLDER), two).unwrap(), b"two");
        let wrong = Location { len: 4, ..two };
        assert!(read_at(&dir.join(FOLDER), wrong).is_err());
        assert_eq!(Log::recover(&dir, 2).unwrap().segments, [2]);

        let log = Log::start(&dir).unwrap();
        assert_eq!(log.number(), 3, "appends never follow a torn frame");
        assert_eq!(
            delete_before(&dir.join(FOLDER), 3, |n| n == 2).unwrap(),
            [1]
        );
        assert_eq!(Log::recover(&dir, 0).unwrap().segments, [2, 3]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_flipped_bit_stops_reading_at_that_frame() {
        let mut bytes = Vec::new();
        frame(&mut bytes, b"good");
        frame(&mut bytes, b"flipped");
        frame(&mut bytes, b"after");
        bytes[12 + 8 + 2] ^= 1;
        let mut frames = Vec::new();
        assert_eq!(read_frames(1, &bytes, &mut frames), Some(12));
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].1, b"good".to_vec());
        let huge = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
        assert_eq!(read_frames(1, &huge, &mut Vec::new()), Some(0));
        let mut written = Vec::new();
        let (at, len) = frame_with(&mut written, |b| b.extend_from_slice(b"good"));
        assert_eq!((at, len, &written[..]), (0, 4, &bytes[..12]));
    }
}
