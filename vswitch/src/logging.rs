//! The daemon's log: one line per event that matters (start, ports opened,
//! configuration changes, errors, shutdown; nothing per packet), on
//! stderr, through the `log` facade.
//!
//! When stderr is the systemd journal (`JOURNAL_STREAM` names the device
//! and inode of stderr, sd-daemon(3)), a line starts with its syslog
//! priority, `<3>` (error) to `<7>` (debug), which journald stores as the
//! entry's level and strips; journald adds the time. Otherwise a line
//! starts with the UTC time and the level.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// How lines are prefixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `<6>message`: stderr is the journal.
    Journal,
    /// `2026-12-01T12:00:00.000Z INFO  message`.
    Plain,
}

impl Style {
    /// [`Style::Journal`] when `journal_stream` (the value of
    /// `JOURNAL_STREAM`, "device:inode") names the file stderr is, as
    /// sd-daemon(3) says to check (a child whose stderr was redirected
    /// inherits the variable but not the journal).
    pub fn detect(journal_stream: Option<&str>) -> Style {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let Some((dev, ino)) = journal_stream.and_then(|s| s.split_once(':')) else {
            return Style::Plain;
        };
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|f| f.metadata());
        match (stderr, dev.parse::<u64>(), ino.parse::<u64>()) {
            (Ok(m), Ok(dev), Ok(ino)) if m.dev() == dev && m.ino() == ino => Style::Journal,
            _ => Style::Plain,
        }
    }
}

/// The syslog priority of `level`: error 3, warn 4, info 6, debug 7 (and
/// trace 7: the journal has nothing finer).
fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// `secs` after the epoch as a UTC date and time of day (days to civil
/// date after Howard Hinnant's `civil_from_days`).
fn utc(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60)
}

/// One log line, ending in a newline. A message's own line breaks become
/// spaces: one event, one line (the journal would split it).
pub fn format_line(
    style: Style,
    level: Level,
    message: &fmt::Arguments<'_>,
    now: SystemTime,
) -> String {
    let text = message.to_string().replace(['\n', '\r'], " ");
    match style {
        Style::Journal => format!("<{}>{text}\n", priority(level)),
        Style::Plain => {
            let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            let (y, mo, d, h, mi, s) = utc(since.as_secs());
            format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z {:<5} {text}\n",
                since.subsec_millis(),
                level.as_str()
            )
        }
    }
}

/// Writes the lines of `level` and more severe to `out` in `style`.
pub struct Logger<W: Write + Send> {
    style: Style,
    level: LevelFilter,
    out: Mutex<W>,
}

impl<W: Write + Send> Logger<W> {
    /// A logger writing to `out`.
    pub fn new(style: Style, level: LevelFilter, out: W) -> Logger<W> {
        Logger {
            style,
            level,
            out: Mutex::new(out),
        }
    }

    /// Gives back the writer (tests read what was logged).
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl<W: Write + Send> Log for Logger<W> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(self.style, record.level(), record.args(), SystemTime::now());
        if let Ok(mut out) = self.out.lock() {
            // Nowhere to report a failed log write.
            let _ = out.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.flush();
        }
    }
}

/// Sends this process's log to stderr at `level`, in the style stderr
/// calls for. The first call wins (the logger of a process is set once).
pub fn init(level: LevelFilter) {
    let style = Style::detect(std::env::var("JOURNAL_STREAM").ok().as_deref());
    if log::set_boxed_logger(Box::new(Logger::new(style, level, std::io::stderr()))).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn logged(logger: &Logger<Vec<u8>>, level: Level, message: &str) {
        logger.log(
            &Record::builder()
                .level(level)
                .args(format_args!("{message}"))
                .build(),
        );
    }

    #[test]
    fn journal_lines_carry_the_syslog_priority() {
        let now = SystemTime::now();
        for (level, prefix) in [
            (Level::Error, "<3>"),
            (Level::Warn, "<4>"),
            (Level::Info, "<6>"),
            (Level::Debug, "<7>"),
        ] {
            let line = format_line(Style::Journal, level, &format_args!("port p up\nnext"), now);
            assert_eq!(line, format!("{prefix}port p up next\n"));
        }
    }

    #[test]
    fn plain_lines_carry_utc_time_and_level() {
        // 2026-12-01T12:15:31.250Z
        let at = UNIX_EPOCH + Duration::from_millis(1_796_127_331_250);
        let line = format_line(Style::Plain, Level::Warn, &format_args!("x {}", 1), at);
        assert_eq!(line, "2026-12-01T12:15:31.250Z WARN  x 1\n");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        let line = format_line(Style::Plain, Level::Info, &format_args!("y"), leap);
        assert_eq!(line, "2000-02-29T00:00:00.000Z INFO  y\n");
        let epoch = format_line(Style::Plain, Level::Error, &format_args!("z"), UNIX_EPOCH);
        assert_eq!(epoch, "1970-01-01T00:00:00.000Z ERROR z\n");
    }

    #[test]
    fn the_level_filters_what_is_written() {
        let logger = Logger::new(Style::Journal, LevelFilter::Warn, Vec::new());
        logged(&logger, Level::Error, "e");
        logged(&logger, Level::Warn, "w");
        logged(&logger, Level::Info, "i");
        logged(&logger, Level::Debug, "d");
        assert_eq!(
            String::from_utf8(logger.into_inner()).unwrap(),
            "<3>e\n<4>w\n"
        );
        let logger = Logger::new(Style::Journal, LevelFilter::Debug, Vec::new());
        logged(&logger, Level::Debug, "d");
        logged(&logger, Level::Trace, "t");
        assert_eq!(String::from_utf8(logger.into_inner()).unwrap(), "<7>d\n");
    }

    #[test]
    fn the_journal_is_detected_only_on_its_own_stream() {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        assert_eq!(Style::detect(None), Style::Plain);
        assert_eq!(Style::detect(Some("garbage")), Style::Plain);
        assert_eq!(Style::detect(Some("1:2")), Style::Plain);
        let stderr = std::fs::File::from(std::io::stderr().as_fd().try_clone_to_owned().unwrap())
            .metadata()
            .unwrap();
        let own = format!("{}:{}", stderr.dev(), stderr.ino());
        assert_eq!(Style::detect(Some(&own)), Style::Journal);
    }
}
