//! Minimal exact decimal arithmetic, standing in for shopspring/decimal in
//! sprig's float functions: floats enter by their shortest decimal text,
//! division keeps 16 fractional digits (shopspring's `DivisionPrecision`).

/// `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Decimal {
    mantissa: i128,
    scale: u32,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Decimal {
    pub(super) fn from_f64(f: f64) -> Decimal {
        let text = format!("{f}");
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let digits = format!("{int}{frac}");
        match digits.parse::<i128>() {
            Ok(mantissa) if frac.len() < 30 => Decimal { mantissa, scale: frac.len() as u32 },
            _ => Decimal { mantissa: f as i128, scale: 0 },
        }
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa.checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    pub(super) fn apply(self, op: Op, other: &Decimal) -> Result<Decimal, String> {
        let overflow = || "decimal overflow".to_string();
        let scale = self.scale.max(other.scale);
        let out = match op {
            Op::Add | Op::Sub => {
                let (a, b) = (self.rescale(scale).ok_or_else(overflow)?, other.rescale(scale).ok_or_else(overflow)?);
                let m = if matches!(op, Op::Add) { a.checked_add(b) } else { a.checked_sub(b) };
                Decimal { mantissa: m.ok_or_else(overflow)?, scale }
            }
            Op::Mul => {
                Decimal { mantissa: self.mantissa.checked_mul(other.mantissa).ok_or_else(overflow)?, scale: self.scale + other.scale }
            }
            Op::Div => {
                if other.mantissa == 0 {
                    return Err("decimal division by 0".into());
                }
                // self/other = (ms / mo) × 10^(so - ss); keep 16 fractional digits.
                let shift = 16 + other.scale + 1;
                let num = self.mantissa.checked_mul(10i128.checked_pow(shift).ok_or_else(overflow)?).ok_or_else(overflow)?;
                let q = num / other.mantissa; // scale: self.scale + 17 - other.scale… normalised below
                let scale = self.scale + shift - other.scale;
                Decimal { mantissa: q, scale }.round_to(16)
            }
        };
        Ok(out)
    }

    /// Rounds half away from zero to `places` fractional digits.
    fn round_to(self, places: u32) -> Decimal {
        if self.scale <= places {
            return self;
        }
        let Some(div) = 10i128.checked_pow(self.scale - places) else {
            return Decimal { mantissa: 0, scale: places };
        };
        let (q, r) = (self.mantissa / div, self.mantissa % div);
        let q = if r.abs() * 2 >= div { q + self.mantissa.signum() } else { q };
        Decimal { mantissa: q, scale: places }
    }

    pub(super) fn to_f64(self) -> f64 {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let digits = format!("{:0>width$}", self.mantissa.unsigned_abs(), width = self.scale as usize + 1);
        let (int, frac) = digits.split_at(digits.len() - self.scale as usize);
        format!("{sign}{int}.{frac}0").parse().unwrap_or(0.0)
    }
}
