#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Prepares a Windows gaming PC as a homelab GPU worker: WSL2, its settings, the NVIDIA driver check,
    Docker Desktop's TCP API kept off, and the Windows firewall.

.DESCRIPTION
    Run once, and again whenever you like, in an elevated PowerShell (5.1 or 7) from the account that games on
    this PC (WSL2 and .wslconfig belong to that account). Every step looks first and changes only what differs,
    so a second run says "ok" everywhere. -WhatIf shows what would change and changes nothing.

    Steps: Windows build and virtualization; the Windows features WSL and VirtualMachinePlatform (a reboot when
    they were just enabled); WSL itself (wsl --update, version 2 by default, the Linux distribution);
    %UserProfile%\.wslconfig ([wsl2] memory, processors, networkingMode=mirrored); the Windows NVIDIA driver;
    Docker Desktop's "Expose daemon on tcp://localhost:2375 without TLS" (must be off); Windows' own OpenSSH
    server (must not take port 22 from WSL2); the firewall rules homelab-*; a logon task that keeps WSL2
    running; Wake-on-LAN with -WakeOnLan. It ends with a summary: what changed, what failed, what is left.

    The Linux side is wsl2-setup.sh beside this file; the whole procedure is docs/gpu-workers.md.

.PARAMETER LanCidr
    The LAN (inventory networks.lan), e.g. 198.51.100.0/24. Ollama, Open WebUI, the exporters and SSH admit it.

.PARAMETER VpnCidr
    The VPN (inventory networks.vpn), e.g. 203.0.113.0/26. Ollama, Open WebUI and the exporters admit it.

.PARAMETER Distro
    The WSL distribution to install: Debian or Ubuntu (the inventory's os: debian or ubuntu).

.PARAMETER Memory
    WSL2's memory limit ([wsl2] memory), e.g. 16GB. Leave the games enough.

.PARAMETER Processors
    WSL2's processor limit ([wsl2] processors).

.PARAMETER ServicePorts
    The ports the worker publishes to the LAN and VPN, by service name (rule homelab-NAME). The default is the
    inventory's gpu-worker and exporters stacks.

.PARAMETER SshFromVpn
    Admit SSH from the VPN as well (the default is the LAN only: bootstrap and the nightly run sit on the LAN).

.PARAMETER WakeOnLan
    Enable Wake-on-LAN (magic packet) on the wired network adapter.

.PARAMETER NoKeepAlive
    Do not register the logon task that keeps WSL2 running (WSL2 stops a while after its last console closes,
    and with it Docker, the Edge agent and SSH).

.PARAMETER Fix
    Also correct what is unsafe but not ours: turn Docker Desktop's TCP API off, stop Windows' OpenSSH server,
    set the Hyper-V firewall's inbound default for WSL to Block.

.EXAMPLE
    .\setup-gpu-worker.ps1 -LanCidr 198.51.100.0/24 -VpnCidr 203.0.113.0/26 -WhatIf

.EXAMPLE
    .\setup-gpu-worker.ps1 -LanCidr 198.51.100.0/24 -VpnCidr 203.0.113.0/26 -Distro Ubuntu -Memory 24GB -WakeOnLan
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)]
    [ValidateScript({ if ($_ -match '^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)/(3[0-2]|[12]?\d)$') { $true } else { throw "not an IPv4 CIDR: '$_' (expected e.g. 198.51.100.0/24)" } })]
    [string[]] $LanCidr,

    [ValidateScript({ if ($_ -match '^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)/(3[0-2]|[12]?\d)$') { $true } else { throw "not an IPv4 CIDR: '$_' (expected e.g. 198.51.100.0/24)" } })]
    [string[]] $VpnCidr = @(),

    [ValidateSet('Debian', 'Ubuntu')]
    [string] $Distro = 'Debian',

    [ValidatePattern('^\d+(MB|GB)$')]
    [string] $Memory = '16GB',

    [ValidateRange(1, 256)]
    [int] $Processors = [Math]::Max(2, [int][Math]::Floor([Environment]::ProcessorCount / 2)),

    [hashtable] $ServicePorts = @{ 'ollama' = 11434; 'open-webui' = 3000; 'node-exporter' = 9100; 'cadvisor' = 8080 },

    [switch] $SshFromVpn,
    [switch] $WakeOnLan,
    [switch] $NoKeepAlive,
    [switch] $Fix
)

$ErrorActionPreference = 'Stop'

# -- output: every step says ok, changed, failed or what is left -------------------------------------------------

$script:Changes = New-Object System.Collections.Generic.List[string]
$script:Failures = New-Object System.Collections.Generic.List[string]
$script:Todo = New-Object System.Collections.Generic.List[string]
$script:RebootNeeded = $false

function Write-Section([string] $Title) { Write-Host ''; Write-Host "== $Title" -ForegroundColor Cyan }
function Write-Ok([string] $What) { Write-Host "  ok       $What" }
function Write-Note([string] $What) { Write-Host "  note     $What" -ForegroundColor DarkGray }
function Add-Change([string] $What) { $script:Changes.Add($What); Write-Host "  changed  $What" -ForegroundColor Green }
function Add-Failure([string] $What) { $script:Failures.Add($What); Write-Host "  FAILED   $What" -ForegroundColor Red }
function Add-Todo([string] $What) { if (-not $script:Todo.Contains($What)) { $script:Todo.Add($What) } }

function Invoke-Native([string] $File, [string[]] $Arguments) {
    # A console program (wsl.exe, powercfg.exe) with its output as text, and its exit code.
    # WSL_UTF8 makes wsl.exe print UTF-8 instead of UTF-16; the NULs are stripped for older versions.
    # 'Continue': Windows PowerShell 5.1 turns a native program's stderr into errors, which 'Stop' would throw.
    $ErrorActionPreference = 'Continue'
    $env:WSL_UTF8 = '1'
    $output = & $File @Arguments 2>&1 | ForEach-Object { "$_" -replace "`0", '' }
    return [pscustomobject] @{ Code = $LASTEXITCODE; Output = (@($output) -join "`n").Trim() }
}

function Write-Utf8File([string] $Path, [string] $Text) {
    # UTF-8 without a byte order mark, which WSL and Docker Desktop read without surprise (5.1 and 7 alike).
    [System.IO.File]::WriteAllText($Path, $Text, (New-Object System.Text.UTF8Encoding $false))
}

function Set-IniSection([string[]] $Lines, [string] $Section, [System.Collections.IDictionary] $Values) {
    # The lines of an INI file with $Values set in [$Section]: existing keys replaced in place, missing keys added
    # at the end of the section (or a new section at the end); every other line kept as it is.
    $out = New-Object System.Collections.Generic.List[string]
    $done = @{}   # PowerShell hashtables compare keys case-insensitively, as WSL reads .wslconfig
    $inSection = $false
    $seen = $false
    $addMissing = {
        foreach ($key in $Values.Keys) { if (-not $done.ContainsKey($key)) { $out.Add("$key=$($Values[$key])"); $done[$key] = $true } }
    }
    foreach ($line in $Lines) {
        if ($line -match '^\s*\[(.+?)\]\s*$') {
            if ($inSection) { & $addMissing }
            $inSection = ($Matches[1].Trim() -eq $Section)
            if ($inSection) { $seen = $true }
            $out.Add($line)
            continue
        }
        if ($inSection -and $line -match '^\s*([^#;=\s][^=]*?)\s*=') {
            $key = $Matches[1]
            $wanted = @($Values.Keys | Where-Object { $_ -eq $key })
            if ($wanted.Count -gt 0) {
                if (-not $done.ContainsKey($wanted[0])) { $out.Add("$($wanted[0])=$($Values[$wanted[0]])") }
                $done[$wanted[0]] = $true   # a duplicate of a key we set is dropped
                continue
            }
        }
        $out.Add($line)
    }
    if ($inSection) { & $addMissing }
    if (-not $seen) {
        if ($out.Count -gt 0 -and $out[$out.Count - 1].Trim() -ne '') { $out.Add('') }
        $out.Add("[$Section]")
        & $addMissing
    }
    return , $out.ToArray()
}

$wslCreatorId = '{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}'   # WSL's VM creator id in the Hyper-V firewall
$keepAliveTask = 'homelab-wsl-keepalive'
$dryRun = [bool] $WhatIfPreference

# -- 1. Windows and virtualization ------------------------------------------------------------------------------

Write-Section 'Windows and virtualization'
$os = Get-CimInstance Win32_OperatingSystem
$build = [int] $os.BuildNumber
$mirrored = $build -ge 22621   # mirrored networking: Windows 11 22H2 and later
if ($build -lt 19041) {
    Add-Failure "Windows build $build is too old for WSL2 (Windows 10 2004, build 19041, or later; Windows 11 22H2 for mirrored networking)"
} elseif ($mirrored) {
    Write-Ok "$($os.Caption) build $build (mirrored networking available)"
} else {
    Write-Ok "$($os.Caption) build $build"
    Write-Note 'mirrored networking needs Windows 11 22H2 (build 22621): this PC gets NAT, and the LAN reaches WSL2 only through netsh portproxy rules (docs/gpu-workers.md)'
    Add-Todo 'this Windows has no mirrored networking: add the netsh interface portproxy rules of docs/gpu-workers.md, or upgrade to Windows 11 22H2+'
}
$computer = Get-CimInstance Win32_ComputerSystem
$cpu = @(Get-CimInstance Win32_Processor)[0]
if ($computer.HypervisorPresent) {
    Write-Ok 'a hypervisor runs: virtualization is on'
} elseif ($cpu.VirtualizationFirmwareEnabled) {
    Write-Ok 'virtualization is enabled in the firmware'
} else {
    Add-Failure 'virtualization is off: enable Intel VT-x ("Intel Virtualization Technology") or AMD-V ("SVM Mode") in the UEFI setup, then run again'
}
if ($script:Failures.Count -gt 0) {
    Write-Host ''
    Write-Host 'Stopped: WSL2 cannot run on this PC as it is.' -ForegroundColor Red
    exit 1
}

# -- 2. Windows features --------------------------------------------------------------------------------------

Write-Section 'Windows features'
foreach ($name in 'Microsoft-Windows-Subsystem-Linux', 'VirtualMachinePlatform') {
    $feature = Get-WindowsOptionalFeature -Online -FeatureName $name
    if ($feature.State -eq 'Enabled') {
        Write-Ok "$name enabled"
    } elseif ($feature.State -eq 'EnablePending') {
        Write-Ok "$name enabled at the next reboot"
        $script:RebootNeeded = $true
    } elseif ($PSCmdlet.ShouldProcess($name, 'Enable the Windows feature')) {
        $result = Enable-WindowsOptionalFeature -Online -FeatureName $name -All -NoRestart -WarningAction SilentlyContinue
        Add-Change "$name enabled"
        if ($result.RestartNeeded) { $script:RebootNeeded = $true }
    }
}
if ($script:RebootNeeded) {
    Add-Todo 'reboot Windows (the WSL features were just enabled), then run this script again: it goes on where it stopped'
}

# -- 3. WSL and the distribution ------------------------------------------------------------------------------

Write-Section "WSL 2 and $Distro"
$needsUser = $false
if ($script:RebootNeeded) {
    Write-Note 'WSL itself is set up after the reboot'
} else {
    if ($PSCmdlet.ShouldProcess('WSL', 'wsl --update')) {
        $run = Invoke-Native 'wsl.exe' @('--update')
        if ($run.Code -ne 0) { Add-Failure "wsl --update failed ($($run.Code)): $($run.Output)" }
        else { Write-Ok "wsl --update: $(@($run.Output -split "`n")[-1])" }
    }
    $version = Invoke-Native 'wsl.exe' @('--version')
    if ($version.Code -eq 0 -and $version.Output -match '(\d+)\.(\d+)\.(\d+)') {
        # The first version on the first line is WSL's own (the labels are in the display language).
        if ([int] $Matches[1] -lt 2 -and $mirrored) {
            Add-Failure "WSL $($Matches[0]) is too old for mirrored networking (2.0 or later): run wsl --update"
        } else {
            Write-Ok "WSL $($Matches[0])"
        }
    }

    # WSL keeps its default version in the registry; no value means 2 on current WSL.
    $lxss = Get-ItemProperty -Path 'HKCU:\Software\Microsoft\Windows\CurrentVersion\Lxss' -Name DefaultVersion -ErrorAction SilentlyContinue
    if (-not $lxss -or $lxss.DefaultVersion -eq 2) {
        Write-Ok 'new distributions get WSL 2'
    } elseif ($PSCmdlet.ShouldProcess('WSL', 'wsl --set-default-version 2')) {
        $run = Invoke-Native 'wsl.exe' @('--set-default-version', '2')
        if ($run.Code -ne 0) { Add-Failure "wsl --set-default-version 2 failed: $($run.Output)" }
        else { Add-Change 'wsl --set-default-version 2' }
    }

    $list = Invoke-Native 'wsl.exe' @('--list', '--verbose')
    $line = @($list.Output -split "`n" | Where-Object { $_ -match "^\s*\*?\s*$([regex]::Escape($Distro))\s" })
    if ($line.Count -eq 0) {
        if ($PSCmdlet.ShouldProcess($Distro, "wsl --install -d $Distro --no-launch")) {
            $run = Invoke-Native 'wsl.exe' @('--install', '-d', $Distro, '--no-launch')
            if ($run.Code -ne 0) { Add-Failure "wsl --install -d $Distro failed ($($run.Code)): $($run.Output)" }
            else { Add-Change "$Distro installed (WSL 2)"; $needsUser = $true }
        }
    } elseif ($line[0] -match '\s1\s*$') {
        if ($PSCmdlet.ShouldProcess($Distro, 'wsl --set-version 2')) {
            $run = Invoke-Native 'wsl.exe' @('--set-version', $Distro, '2')
            if ($run.Code -ne 0) { Add-Failure "wsl --set-version $Distro 2 failed: $($run.Output)" }
            else { Add-Change "$Distro converted to WSL 2" }
        }
    } else {
        Write-Ok "$Distro is installed, WSL 2"
        # The user `wsl -d` asks for on first start gets uid 1000.
        $user = Invoke-Native 'wsl.exe' @('-d', $Distro, '-u', 'root', '--exec', 'getent', 'passwd', '1000')
        if ($user.Code -eq 0 -and $user.Output) { Write-Ok "Linux user $($user.Output.Split(':')[0])" }
        else { $needsUser = $true }
    }
    if ($needsUser -or ($dryRun -and $line.Count -eq 0)) {
        Add-Todo "run ``wsl -d $Distro`` once and create your Linux user (the inventory's ssh.user), then leave with ``exit``"
    }
}

# -- 4. .wslconfig ----------------------------------------------------------------------------------------------

Write-Section '.wslconfig'
$wslConfig = Join-Path $env:USERPROFILE '.wslconfig'
$settings = [ordered] @{ memory = $Memory; processors = "$Processors" }
if ($mirrored) {
    # Mirrored: WSL2 shares Windows' addresses, so the LAN reaches ports published in WSL2 on the PC's own
    # address, with the real source address (the firewall inside WSL2 can tell LAN from VPN). firewall=true puts
    # WSL2's inbound traffic under the Hyper-V firewall rules below.
    $settings['networkingMode'] = 'mirrored'
    $settings['firewall'] = 'true'
}
$before = @()
if (Test-Path -LiteralPath $wslConfig) { $before = @(Get-Content -LiteralPath $wslConfig) }
$after = Set-IniSection -Lines $before -Section 'wsl2' -Values $settings
if (($before -join "`n") -ceq ($after -join "`n")) {
    Write-Ok "$wslConfig`: [wsl2] $(($settings.Keys | ForEach-Object { "$_=$($settings[$_])" }) -join ', ')"
} elseif ($PSCmdlet.ShouldProcess($wslConfig, 'Set [wsl2] ' + (($settings.Keys | ForEach-Object { "$_=$($settings[$_])" }) -join ', '))) {
    Write-Utf8File $wslConfig (($after -join "`r`n") + "`r`n")
    Add-Change "$wslConfig`: [wsl2] $(($settings.Keys | ForEach-Object { "$_=$($settings[$_])" }) -join ', ') (other keys kept)"
    Add-Todo "run ``wsl --shutdown``: .wslconfig applies when WSL2 starts again (then Start-ScheduledTask -TaskName $keepAliveTask, or log on again)"
}
if (@($after | Where-Object { $_ -match '^\s*\[experimental\]' }).Count -gt 0 -and
    @($after | Where-Object { $_ -match '^\s*networkingMode\s*=' }).Count -gt 1) {
    Write-Note "$wslConfig also sets networkingMode under [experimental] (WSL before 2.0): remove that line"
}

# -- 5. The Windows NVIDIA driver -------------------------------------------------------------------------------

Write-Section 'NVIDIA driver (Windows)'
$smi = Join-Path $env:SystemRoot 'System32\nvidia-smi.exe'
if (-not (Test-Path -LiteralPath $smi)) {
    $smi = Get-ChildItem -Path (Join-Path $env:SystemRoot 'System32\DriverStore\FileRepository\nv*\nvidia-smi.exe') -ErrorAction SilentlyContinue |
        Select-Object -First 1 -ExpandProperty FullName
}
if (-not $smi) {
    Add-Failure 'no NVIDIA driver (nvidia-smi.exe in System32 or the DriverStore): install the current Game Ready or Studio driver for Windows from nvidia.com'
} else {
    $run = Invoke-Native $smi @('--query-gpu=name,driver_version,memory.total', '--format=csv,noheader')
    if ($run.Code -ne 0 -or -not $run.Output) { Add-Failure "$smi finds no GPU ($($run.Code)): $($run.Output)" }
    else { $run.Output -split "`n" | ForEach-Object { Write-Ok "GPU: $_" } }
}
Write-Note 'WSL2 uses this Windows driver. Never install a Linux NVIDIA driver (nvidia-driver-*, cuda-drivers) inside WSL2: it breaks CUDA there'

# -- 6. Docker Desktop: the TCP API must stay off ---------------------------------------------------------------

Write-Section 'Docker Desktop'
# The plan runs Docker Engine inside WSL2. Docker Desktop, if present, must not expose its daemon on
# tcp://localhost:2375 without TLS: anything that reaches that port owns the PC (spec P3-DOCKER-002).
# Docker Desktop 4.35+ keeps settings in settings-store.json (ExposeDockerAPIOnTCP2375), older ones in
# settings.json (exposeDockerAPIOnTCP2375); property names are matched without regard to case.
$desktopExe = Join-Path $env:ProgramFiles 'Docker\Docker\Docker Desktop.exe'
$desktopFiles = @('settings-store.json', 'settings.json' | ForEach-Object { Join-Path $env:APPDATA "Docker\$_" } |
    Where-Object { Test-Path -LiteralPath $_ })
if (-not (Test-Path -LiteralPath $desktopExe) -and $desktopFiles.Count -eq 0) {
    Write-Ok 'Docker Desktop is not installed (Docker Engine runs inside WSL2)'
} else {
    Write-Note "Docker Desktop is installed: keep its WSL integration off for $Distro (Settings > Resources > WSL integration), and do not run it on a GPU worker"
    foreach ($file in $desktopFiles) {
        $json = Get-Content -LiteralPath $file -Raw | ConvertFrom-Json
        $property = @($json.PSObject.Properties | Where-Object { $_.Name -eq 'exposeDockerAPIOnTCP2375' })
        if ($property.Count -eq 0 -or -not $property[0].Value) {
            Write-Ok "$file`: Expose daemon on tcp://localhost:2375 without TLS is off"
            continue
        }
        $what = "$file`: $($property[0].Name) is true (Expose daemon on tcp://localhost:2375 without TLS)"
        if (-not $Fix) {
            Add-Failure "$what; turn it off in Docker Desktop (Settings > General), or run again with -Fix"
        } elseif (Get-Process -Name 'Docker Desktop' -ErrorAction SilentlyContinue) {
            Add-Failure "$what; quit Docker Desktop first (it rewrites the file on exit), then run again with -Fix"
        } elseif ($PSCmdlet.ShouldProcess($file, "Set $($property[0].Name) to false")) {
            $property[0].Value = $false
            Write-Utf8File $file ($json | ConvertTo-Json -Depth 50)
            Add-Change "$file`: $($property[0].Name) set to false"
        }
    }
    $admin = Join-Path $env:ProgramData 'DockerDesktop\admin-settings.json'
    if (Test-Path -LiteralPath $admin) {
        $locked = (Get-Content -LiteralPath $admin -Raw | ConvertFrom-Json).PSObject.Properties |
            Where-Object { $_.Name -eq 'exposeDockerAPIOnTCP2375' } | Select-Object -First 1
        if ($locked -and $locked.Value.value -eq $true) {
            Add-Failure "$admin enforces exposeDockerAPIOnTCP2375 = true: have it changed (this script does not edit admin settings)"
        }
    }
}
$listeners = @(Get-NetTCPConnection -State Listen -LocalPort 2375, 2376 -ErrorAction SilentlyContinue)
foreach ($listener in $listeners) {
    $owner = (Get-Process -Id $listener.OwningProcess -ErrorAction SilentlyContinue).ProcessName
    Add-Failure "something listens on $($listener.LocalAddress):$($listener.LocalPort) (the Docker API port): $owner (pid $($listener.OwningProcess)); stop it"
}
if ($listeners.Count -eq 0) { Write-Ok 'nothing listens on 2375 or 2376 in Windows' }

# -- 7. SSH: WSL2's sshd, not Windows' --------------------------------------------------------------------------

Write-Section 'SSH'
# Bootstrap logs in to the OpenSSH server inside WSL2 (wsl2-setup.sh). With mirrored networking a Windows
# service on port 22 would answer instead, with a host key the inventory does not know.
$windowsSshd = Get-Service -Name sshd -ErrorAction SilentlyContinue
if (-not $windowsSshd -or ($windowsSshd.Status -ne 'Running' -and "$($windowsSshd.StartType)" -ne 'Automatic')) {
    Write-Ok "Windows' OpenSSH server is not in use (port 22 belongs to WSL2)"
} elseif (-not $Fix) {
    Add-Failure "Windows' OpenSSH server (service sshd) is $($windowsSshd.Status), start $($windowsSshd.StartType): it takes port 22 from WSL2; stop and disable it, or run again with -Fix"
} elseif ($PSCmdlet.ShouldProcess('service sshd', 'Stop and disable')) {
    Stop-Service -Name sshd -Force
    Set-Service -Name sshd -StartupType Disabled
    Add-Change "Windows' OpenSSH server stopped and disabled (port 22 is WSL2's)"
}

# -- 8. Firewall ------------------------------------------------------------------------------------------------

Write-Section 'Firewall (rules homelab-*)'
# One set of rules, written twice: as Windows Defender Firewall rules (traffic to Windows itself, including
# netsh portproxy listeners in NAT mode) and, where Windows has it, as Hyper-V firewall rules for WSL's VM
# (traffic to WSL2 in mirrored mode). The display name carries the whole rule, so a re-run that finds the same
# names leaves them alone, and any difference replaces every homelab-* rule.
$lanVpn = @($LanCidr) + @($VpnCidr)
$sshFrom = if ($SshFromVpn) { $lanVpn } else { @($LanCidr) }
$rules = New-Object System.Collections.Generic.List[object]
foreach ($name in @($ServicePorts.Keys | Sort-Object { [int] $ServicePorts[$_] })) {
    $rules.Add([pscustomobject] @{ Name = "homelab-$name"; Ports = @([string] $ServicePorts[$name]); Action = 'Allow'; From = $lanVpn })
}
$rules.Add([pscustomobject] @{ Name = 'homelab-ssh'; Ports = @('22'); Action = 'Allow'; From = $sshFrom })
$rules.Add([pscustomobject] @{ Name = 'homelab-block-docker-api'; Ports = @('2375', '2376'); Action = 'Block'; From = @() })
$rules.Add([pscustomobject] @{ Name = 'homelab-block-portainer-agent'; Ports = @('9001'); Action = 'Block'; From = @() })
foreach ($rule in $rules) {
    $source = if ($rule.From.Count -gt 0) { $rule.From -join ', ' } else { 'anywhere' }
    $verb = if ($rule.Action -eq 'Allow') { 'allow' } else { 'block' }
    $rule | Add-Member -NotePropertyName DisplayName -NotePropertyValue "$($rule.Name): $verb TCP $($rule.Ports -join ', ') inbound from $source"
}
$wanted = ($rules | ForEach-Object { $_.DisplayName } | Sort-Object) -join "`n"

$existing = @(Get-NetFirewallRule -Name 'homelab-*' -ErrorAction SilentlyContinue)
$found = ($existing | Where-Object { $_.Enabled -eq 'True' -and $_.Direction -eq 'Inbound' } |
    ForEach-Object { $_.DisplayName } | Sort-Object) -join "`n"
if ($existing.Count -eq $rules.Count -and $found -ceq $wanted) {
    Write-Ok "Windows Defender Firewall: $($rules.Count) rules homelab-*, as planned"
} elseif ($PSCmdlet.ShouldProcess('Windows Defender Firewall', "Replace the rules homelab-* ($($rules.Count) rules)")) {
    if ($existing.Count -gt 0) { $existing | Remove-NetFirewallRule }
    foreach ($rule in $rules) {
        $options = @{ Name = $rule.Name; DisplayName = $rule.DisplayName; Group = 'homelab'; Direction = 'Inbound'
                      Protocol = 'TCP'; LocalPort = $rule.Ports; Action = $rule.Action; Profile = 'Any'; Enabled = 'True'
                      Description = 'Written by bootstrap/windows/setup-gpu-worker.ps1 (homelab); a re-run replaces it.' }
        if ($rule.From.Count -gt 0) { $options['RemoteAddress'] = $rule.From }
        New-NetFirewallRule @options | Out-Null
    }
    Add-Change "Windows Defender Firewall: rules homelab-* written ($($rules.Count))"
}
$rules | ForEach-Object { Write-Note $_.DisplayName }

if (-not (Get-Command New-NetFirewallHyperVRule -ErrorAction SilentlyContinue)) {
    if ($mirrored) { Add-Todo 'this Windows has no Hyper-V firewall cmdlets (New-NetFirewallHyperVRule): install the Windows updates, then run again' }
    else { Write-Note 'no Hyper-V firewall on this Windows (NAT mode): the Defender rules above cover the portproxy listeners' }
} else {
    $existing = @(Get-NetFirewallHyperVRule -ErrorAction SilentlyContinue | Where-Object { $_.Name -like 'homelab-*' })
    $found = ($existing | Where-Object { $_.VMCreatorId -eq $wslCreatorId } | ForEach-Object { $_.DisplayName } | Sort-Object) -join "`n"
    if ($existing.Count -eq $rules.Count -and $found -ceq $wanted) {
        Write-Ok "Hyper-V firewall (WSL): $($rules.Count) rules homelab-*, as planned"
    } elseif ($PSCmdlet.ShouldProcess('Hyper-V firewall (WSL)', "Replace the rules homelab-* ($($rules.Count) rules)")) {
        if ($existing.Count -gt 0) { $existing | Remove-NetFirewallHyperVRule }
        foreach ($rule in $rules) {
            $options = @{ Name = $rule.Name; DisplayName = $rule.DisplayName; Direction = 'Inbound'; VMCreatorId = $wslCreatorId
                          Protocol = 'TCP'; LocalPorts = $rule.Ports; Action = $rule.Action; Enabled = 'True' }
            if ($rule.From.Count -gt 0) { $options['RemoteAddresses'] = $rule.From }
            New-NetFirewallHyperVRule @options | Out-Null
        }
        Add-Change "Hyper-V firewall (WSL): rules homelab-* written ($($rules.Count))"
    }
    $vmSetting = Get-NetFirewallHyperVVMSetting -PolicyStore ActiveStore -Name $wslCreatorId -ErrorAction SilentlyContinue
    if ($vmSetting -and "$($vmSetting.DefaultInboundAction)" -eq 'Allow') {
        if (-not $Fix) {
            Add-Failure 'the Hyper-V firewall admits all inbound traffic to WSL2 (DefaultInboundAction Allow): set it to Block, or run again with -Fix'
        } elseif ($PSCmdlet.ShouldProcess('Hyper-V firewall (WSL)', 'Set DefaultInboundAction Block')) {
            Set-NetFirewallHyperVVMSetting -Name $wslCreatorId -DefaultInboundAction Block
            Add-Change 'Hyper-V firewall (WSL): inbound default set to Block'
        }
    } elseif ($vmSetting) {
        Write-Ok "Hyper-V firewall (WSL): inbound default $($vmSetting.DefaultInboundAction)"
    }
}

# -- 9. Keep WSL2 running ---------------------------------------------------------------------------------------

Write-Section 'WSL2 keep-alive'
# WSL2 stops its distribution shortly after the last Windows process attached to it ends; systemd services do not
# keep it alive. A logon task holds one hidden process in WSL2, so Docker, the Edge agent and sshd run whenever
# the gaming account is logged on.
if ($NoKeepAlive) {
    Write-Note "skipped (-NoKeepAlive): start WSL2 yourself (``wsl -d $Distro``) before the worker is used"
} else {
    $user = "$env:USERDOMAIN\$env:USERNAME"
    $argument = "-NoProfile -NonInteractive -WindowStyle Hidden -Command `"wsl.exe -d $Distro --exec /bin/sleep infinity`""
    $task = Get-ScheduledTask -TaskName $keepAliveTask -ErrorAction SilentlyContinue
    if ($task -and @($task.Actions)[0].Execute -eq 'powershell.exe' -and @($task.Actions)[0].Arguments -eq $argument) {
        Write-Ok "scheduled task $keepAliveTask (at logon of $user)"
    } elseif ($PSCmdlet.ShouldProcess($keepAliveTask, 'Register the scheduled task')) {
        $action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument $argument
        $trigger = New-ScheduledTaskTrigger -AtLogOn -User $user
        $principal = New-ScheduledTaskPrincipal -UserId $user -LogonType Interactive -RunLevel Limited
        $options = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
        Register-ScheduledTask -TaskName $keepAliveTask -Description "Keeps WSL2 ($Distro) running for the homelab GPU worker" `
            -Action $action -Trigger $trigger -Principal $principal -Settings $options -Force | Out-Null
        Add-Change "scheduled task $keepAliveTask (at logon of $user)"
        Add-Todo "start it now without logging off: Start-ScheduledTask -TaskName $keepAliveTask"
    }
}

# -- 10. Wake-on-LAN ---------------------------------------------------------------------------------------------

if ($WakeOnLan) {
    Write-Section 'Wake-on-LAN'
    $nic = @(Get-NetAdapter -Physical | Where-Object { $_.Status -eq 'Up' -and $_.PhysicalMediaType -eq '802.3' }) | Select-Object -First 1
    if (-not $nic) {
        Add-Failure 'no wired network adapter is up: Wake-on-LAN needs the PC on a cable'
    } else {
        $power = Get-NetAdapterPowerManagement -Name $nic.Name
        if ("$($power.WakeOnMagicPacket)" -eq 'Enabled') {
            Write-Ok "$($nic.Name): wake on magic packet"
        } elseif ($PSCmdlet.ShouldProcess($nic.Name, 'Enable wake on magic packet')) {
            Set-NetAdapterPowerManagement -Name $nic.Name -WakeOnMagicPacket Enabled
            Add-Change "$($nic.Name): wake on magic packet"
        }
        $advanced = Get-NetAdapterAdvancedProperty -Name $nic.Name -RegistryKeyword '*WakeOnMagicPacket' -ErrorAction SilentlyContinue
        if ($advanced -and @($advanced.RegistryValue) -notcontains '1' -and
            $PSCmdlet.ShouldProcess($nic.Name, 'Set the driver property *WakeOnMagicPacket to 1')) {
            Set-NetAdapterAdvancedProperty -Name $nic.Name -RegistryKeyword '*WakeOnMagicPacket' -RegistryValue 1
            Add-Change "$($nic.Name): driver property Wake on Magic Packet on"
        }
        $armed = Invoke-Native 'powercfg.exe' @('/devicequery', 'wake_armed')
        if (@($armed.Output -split "`n" | ForEach-Object { $_.Trim() }) -contains $nic.InterfaceDescription) {
            Write-Ok "$($nic.InterfaceDescription) may wake the PC"
        } elseif ($PSCmdlet.ShouldProcess($nic.InterfaceDescription, 'powercfg /deviceenablewake')) {
            $run = Invoke-Native 'powercfg.exe' @('/deviceenablewake', $nic.InterfaceDescription)
            if ($run.Code -ne 0) { Add-Failure "powercfg /deviceenablewake failed: $($run.Output)" }
            else { Add-Change "$($nic.InterfaceDescription) may wake the PC" }
        }
        $fastStartup = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager\Power' -Name HiberbootEnabled -ErrorAction SilentlyContinue
        if ($fastStartup -and $fastStartup.HiberbootEnabled -eq 1) {
            Add-Todo 'to wake the PC from shutdown (not only sleep), turn off Fast Startup (Control Panel > Power Options > Choose what the power buttons do)'
        }
        Add-Todo 'enable Wake-on-LAN in the UEFI setup too (often "Power On By PCI-E" or "Wake on LAN")'
        Write-Note "wake it from the LAN with its MAC address $($nic.MacAddress -replace '-', ':') (e.g. wakeonlan, etherwake)"
    }
}

# -- Summary ----------------------------------------------------------------------------------------------------

Write-Section 'Summary'
if ($dryRun) { Write-Host '  Dry run (-WhatIf): nothing was changed; the "What if" lines say what would be.' }
if ($script:Changes.Count -eq 0) { Write-Host '  Changed: nothing' }
else { Write-Host "  Changed ($($script:Changes.Count)):"; $script:Changes | ForEach-Object { Write-Host "    - $_" } }
if ($script:Failures.Count -gt 0) {
    Write-Host "  Failed ($($script:Failures.Count)):" -ForegroundColor Red
    $script:Failures | ForEach-Object { Write-Host "    - $_" -ForegroundColor Red }
}

# What is left, in order. Inside WSL2 the Linux side: wsl2-setup.sh, reached through /mnt/<drive>/.
$linuxScript = Join-Path $PSScriptRoot 'wsl2-setup.sh'
$mnt = '/mnt/' + $linuxScript.Substring(0, 1).ToLower() + ($linuxScript.Substring(2) -replace '\\', '/')
$vpnArgs = ($VpnCidr | ForEach-Object { " --vpn $_" }) -join ''
$lanArgs = ($LanCidr | ForEach-Object { " --lan $_" }) -join ''
if (-not $script:RebootNeeded) {
    Add-Todo ("in WSL2 (``wsl -d $Distro``), once: ``sudo bash '$mnt' --authorized-key `"<contents of homelab_ed25519.pub>`"" +
              "$lanArgs$vpnArgs``; it prints the inventory lines (os, ssh user, host key)")
    Add-Todo 'add the host to inventory.yaml (role edge, platform wsl2, availability on-demand, gpu, stacks), then on the workstation: python -m bootstrap phase3 and pytest -m phase3 (docs/gpu-workers.md)'
}
if ($script:Todo.Count -gt 0) {
    Write-Host '  Left to do:'
    $step = 1
    foreach ($item in $script:Todo) { Write-Host "    $step. $item"; $step++ }
}
if ($script:Failures.Count -gt 0) { exit 1 }
exit 0
