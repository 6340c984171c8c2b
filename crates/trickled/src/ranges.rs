//! Lists of small numbers as operators write them: `0-3`, `2,4,6`,
//! `0-1,8-9` (queues, cores).

/// Parse `spec` into the numbers it names, in order, without duplicates.
pub fn parse(spec: &str) -> Result<Vec<u32>, String> {
    let mut out: Vec<u32> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a, spec)?, num(b, spec)?),
            None => {
                let n = num(part, spec)?;
                (n, n)
            }
        };
        if hi < lo {
            return Err(format!("`{part}` in `{spec}`: the range runs backwards"));
        }
        if hi - lo > 4095 {
            return Err(format!("`{part}` in `{spec}`: more than 4096 entries"));
        }
        for n in lo..=hi {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    if out.is_empty() {
        return Err(format!("`{spec}` names no number"));
    }
    Ok(out)
}

fn num(s: &str, spec: &str) -> Result<u32, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{}` in `{spec}` is not a number", s.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_lists() {
        assert_eq!(parse("0-3"), Ok(vec![0, 1, 2, 3]));
        assert_eq!(parse("2, 4,6"), Ok(vec![2, 4, 6]));
        assert_eq!(parse("0-1,1-2"), Ok(vec![0, 1, 2]));
        assert!(parse("3-1").is_err());
        assert!(parse("x").is_err());
        assert!(parse("").is_err());
        assert!(parse("0-100000").is_err());
    }
}
