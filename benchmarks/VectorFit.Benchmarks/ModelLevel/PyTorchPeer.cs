using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>Runs <c>benchmarks/pytorch/step.py</c> (Debian's python3-torch, libtorch 1.13.1) and reads its JSON.</summary>
public sealed class PyTorchPeer
{
    private PyTorchPeer(string python, string script)
    {
        Python = python;
        Script = script;
    }

    /// <summary>The interpreter.</summary>
    public string Python { get; }

    /// <summary>The script's path.</summary>
    public string Script { get; }

    /// <summary>
    /// Finds an interpreter that imports torch (<paramref name="preferred"/>, then $VF_PYTHON, /usr/bin/python3,
    /// python3 — Debian's python3-torch lives in the system interpreter, which a pyenv shim may hide) and the script.
    /// </summary>
    /// <returns>The peer, or <c>null</c> with <paramref name="why"/> set.</returns>
    public static PyTorchPeer? Find(string? preferred, out string why)
    {
        var script = FindScript();
        if (script is null)
        {
            why = "benchmarks/pytorch/step.py not found above the working directory or the program";
            return null;
        }

        var candidates = new[] { preferred, Environment.GetEnvironmentVariable("VF_PYTHON"), "/usr/bin/python3", "python3" }
            .Where(c => !string.IsNullOrWhiteSpace(c)).Distinct().ToList();
        foreach (var candidate in candidates)
        {
            var (code, _, _) = Run(candidate!, new[] { "-c", "import torch" }, echoErrors: false);
            if (code == 0)
            {
                why = string.Empty;
                return new PyTorchPeer(candidate!, script);
            }
        }

        why = $"no Python with torch among {string.Join(", ", candidates)} (install Debian's python3-torch, or set VF_PYTHON)";
        return null;
    }

    /// <summary>Runs the script with <paramref name="args"/>; its progress goes to stderr, its JSON is returned.</summary>
    /// <exception cref="InvalidOperationException">The script failed or printed no JSON.</exception>
    public JsonElement RunJson(IEnumerable<string> args)
    {
        var (code, stdout, _) = Run(Python, new[] { Script }.Concat(args).ToArray(), echoErrors: true);
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (code != 0 || line is null)
        {
            throw new InvalidOperationException($"{Python} {Script} exited with {code} and printed no JSON.");
        }

        using var document = JsonDocument.Parse(line);
        return document.RootElement.Clone();
    }

    /// <summary>
    /// Starts <c>step.py --serve</c>: a PyTorch process holding the same models, stepping one method per request, so the
    /// harness can alternate .NET and PyTorch steps.
    /// </summary>
    /// <exception cref="InvalidOperationException">The server did not start.</exception>
    public StepServer StartServer(int layers, IEnumerable<string> methods, int threads)
    {
        var info = new ProcessStartInfo(Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { Script, "--serve", "--layers", layers.ToString(CultureInfo.InvariantCulture),
                     "--methods", string.Join(',', methods), "--threads", threads.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {Python}.");
        return new StepServer(process);
    }

    private static string? FindScript()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var path = Path.Combine(dir.FullName, "benchmarks", "pytorch", "step.py");
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }

        return null;
    }

    private static (int Code, string Stdout, string Stderr) Run(string file, string[] args, bool echoErrors)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(info)!;
            var errors = new System.Text.StringBuilder();
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    return;
                }

                errors.AppendLine(e.Data);
                if (echoErrors)
                {
                    Console.Error.WriteLine(e.Data);
                }
            };
            process.BeginErrorReadLine();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout, errors.ToString());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, string.Empty, e.Message);
        }
    }
}

/// <summary>A running <c>step.py --serve</c>.</summary>
public sealed class StepServer : IDisposable
{
    private readonly Process _process;

    internal StepServer(Process process)
    {
        _process = process;
        var ready = ReadJson();
        if (!ready.TryGetProperty("ready", out _))
        {
            throw new InvalidOperationException($"step.py --serve did not start: {ready}");
        }

        Ready = ready;
    }

    /// <summary>The server's first answer: build times and trainable state per method.</summary>
    public JsonElement Ready { get; }

    /// <summary>One training step of <paramref name="method"/> in PyTorch; its duration in seconds, timed by the server.</summary>
    public double Step(string method)
    {
        _process.StandardInput.WriteLine($"step {method}");
        _process.StandardInput.Flush();
        var answer = ReadJson();
        return answer.TryGetProperty("s", out var seconds)
            ? seconds.GetDouble()
            : throw new InvalidOperationException($"step.py --serve: {answer}");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            _process.StandardInput.WriteLine("quit");
            _process.StandardInput.Flush();
            if (!_process.WaitForExit(60_000))
            {
                _process.Kill();
            }
        }
        catch (IOException)
        {
            // The server is gone already.
        }

        _process.Dispose();
    }

    private JsonElement ReadJson()
    {
        while (true)
        {
            var line = _process.StandardOutput.ReadLine()
                ?? throw new InvalidOperationException($"step.py --serve exited (code {(_process.HasExited ? _process.ExitCode : -1)}).");
            if (line.TrimStart().StartsWith('{'))
            {
                using var document = JsonDocument.Parse(line);
                return document.RootElement.Clone();
            }
        }
    }
}
