//! The table the bench prints: each figure with its result, its goal and whether it holds, and
//! the statistics behind them.

/// Whether a figure meets its goal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Holds {
    Yes,
    /// Missed, by less than the run's own noise: the run does not fail for it.
    WithinNoise,
    /// Missed; `fails` when the miss makes the run's exit status non-zero.
    No {
        fails: bool,
    },
}

impl Holds {
    /// `value ≤ goal`, failing only past `goal × (1 + noise)`.
    pub fn at_most(value: f64, goal: f64, noise: f64) -> Holds {
        if value <= goal {
            Holds::Yes
        } else if value <= goal * (1.0 + noise) {
            Holds::WithinNoise
        } else {
            Holds::No { fails: true }
        }
    }

    /// `value ≥ goal`, failing only below `goal × (1 − noise)`.
    pub fn at_least(value: f64, goal: f64, noise: f64) -> Holds {
        if value >= goal {
            Holds::Yes
        } else if value >= goal * (1.0 - noise) {
            Holds::WithinNoise
        } else {
            Holds::No { fails: true }
        }
    }

    /// An absolute goal: any miss fails the run.
    pub fn absolute(holds: bool) -> Holds {
        if holds {
            Holds::Yes
        } else {
            Holds::No { fails: true }
        }
    }

    fn text(self) -> &'static str {
        match self {
            Holds::Yes => "yes",
            Holds::WithinNoise => "within noise",
            Holds::No { .. } => "no",
        }
    }
}

#[derive(Debug)]
struct Row {
    figure: String,
    result: String,
    goal: String,
    holds: Option<Holds>,
}

impl Row {
    fn holds(&self) -> &'static str {
        self.holds.map_or("—", Holds::text)
    }
}

/// The rows in the order they are measured.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// A figure without a goal.
    pub fn info(&mut self, figure: impl Into<String>, result: impl Into<String>) {
        self.rows.push(Row {
            figure: figure.into(),
            result: result.into(),
            goal: "—".into(),
            holds: None,
        });
    }

    /// A figure with its goal.
    pub fn check(
        &mut self,
        figure: impl Into<String>,
        result: impl Into<String>,
        goal: impl Into<String>,
        holds: Holds,
    ) {
        self.rows.push(Row {
            figure: figure.into(),
            result: result.into(),
            goal: goal.into(),
            holds: Some(holds),
        });
    }

    /// Prints the markdown table, then the figures that miss their goals; false when one of
    /// them fails the run.
    pub fn print(&self) -> bool {
        let width = |column: fn(&Row) -> &str, title: &str| {
            self.rows
                .iter()
                .map(|row| column(row).chars().count())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        };
        let widths = [
            width(|r| r.figure.as_str(), "figure"),
            width(|r| r.result.as_str(), "result"),
            width(|r| r.goal.as_str(), "goal"),
            width(Row::holds, "holds"),
        ];
        let line = |cells: [&str; 4]| {
            let cells: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:width$}"))
                .collect();
            println!("| {} |", cells.join(" | "));
        };
        println!();
        line(["figure", "result", "goal", "holds"]);
        let rules = widths.map(|width| "-".repeat(width));
        line([&rules[0], &rules[1], &rules[2], &rules[3]]);
        for row in &self.rows {
            line([&row.figure, &row.result, &row.goal, row.holds()]);
        }
        let mut passed = true;
        for row in &self.rows {
            match row.holds {
                Some(Holds::No { fails: true }) => {
                    passed = false;
                    eprintln!("FAILS: {}: {} (goal {})", row.figure, row.result, row.goal);
                }
                Some(Holds::No { fails: false }) => {
                    eprintln!(
                        "missed, not failing the run: {}: {} (goal {})",
                        row.figure, row.result, row.goal
                    );
                }
                _ => {}
            }
        }
        passed
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// The median with min, max and the number of samples.
pub fn stats(values: &[f64], unit: &str) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!(
        "median {:.2} {unit} (min {min:.2}, max {max:.2}, n={})",
        median(values),
        values.len()
    )
}

/// How far two measurements of the same thing differ: `|a / b − 1|`.
pub fn noise(a: f64, b: f64) -> f64 {
    (a / b - 1.0).abs()
}
