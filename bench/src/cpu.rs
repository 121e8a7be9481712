//! How busy the cores were: this process (the gateway and the clients) and the whole machine
//! (which includes a local PostgreSQL server), from `/proc`.

use std::time::Duration;

/// CPU seconds used so far, user plus system (Linux only; `None` elsewhere).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuClock {
    /// This process: the gateway and the clients.
    process: Option<f64>,
    /// The whole machine, which includes a local PostgreSQL server.
    machine: Option<f64>,
}

/// Cores kept busy on average over a span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuUse {
    process: Option<f64>,
    machine: Option<f64>,
}

/// `/proc` counts CPU time in USER_HZ ticks, which Linux fixes at 100 per second.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuClock {
    pub(crate) fn read() -> Self {
        Self {
            process: Self::process(),
            machine: Self::machine(),
        }
    }

    fn process() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses: state is field 3, utime 14,
        // stime 15.
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
        let user: f64 = fields.next()?.parse().ok()?;
        let system: f64 = fields.next()?.parse().ok()?;
        Some((user + system) / TICKS_PER_SECOND)
    }

    fn machine() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // cpu  user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
        let ticks: Vec<f64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .take(8)
            .map(|t| t.parse().ok())
            .collect::<Option<_>>()?;
        let busy: f64 = ticks
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .map(|(_, t)| t)
            .sum();
        Some(busy / TICKS_PER_SECOND)
    }

    pub(crate) fn cores_until(&self, later: &Self, during: Duration) -> CpuUse {
        let cores = |from: Option<f64>, to: Option<f64>| Some((to? - from?) / during.as_secs_f64());
        CpuUse {
            process: cores(self.process, later.process),
            machine: cores(self.machine, later.machine),
        }
    }
}

impl std::fmt::Display for CpuUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cores = |c: Option<f64>| c.map_or_else(|| "?".to_owned(), |c| format!("{c:.2}"));
        write!(
            f,
            "{} (machine {})",
            cores(self.process),
            cores(self.machine)
        )
    }
}
