using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GlueFineTune.Outputs;
using TorchSharp.Modules;
using VectorFit;
using VectorFit.Adapters;
using VectorFit.Serialization;

namespace GlueFineTune.Training;

/// <summary>The scalar part of a resumable checkpoint (<c>state.json</c>).</summary>
internal sealed record CheckpointState
{
    /// <summary>Optimizer steps completed.</summary>
    public required long Step { get; init; }

    /// <summary>Settings that must not change across a resume (task, model, variant, batch, seed, …; not the learning rate).</summary>
    public required string Fingerprint { get; init; }

    /// <summary>The base learning rate the steps so far were taken with (a resume may change it, e.g. after divergence).</summary>
    public required double LearningRate { get; init; }

    /// <summary>Sum of the training losses of the current (unfinished) epoch's steps.</summary>
    public required double EpochLossSum { get; init; }

    /// <summary>Steps summed in <see cref="EpochLossSum"/>.</summary>
    public required long EpochLossCount { get; init; }

    /// <summary>Why the checkpoint was written (epoch end, interrupted, error).</summary>
    public required string Reason { get; init; }
}

/// <summary>A checkpoint read back and verified: its state and the metrics log as of its step.</summary>
/// <param name="Folder">The folder it was read from (the checkpoint, or the backup an interrupted save left).</param>
/// <param name="State">Its <c>state.json</c>.</param>
/// <param name="Metrics">Its copy of <c>metrics.json</c>.</param>
internal sealed record VerifiedCheckpoint(string Folder, CheckpointState State, MetricsLog Metrics);

/// <summary>
/// A resumable checkpoint in <c>OUTPUT/checkpoint/</c>: the adapter (trained σ, b and the head, library format),
/// the AdamW state (TorchSharp's <c>save_state_dict</c>), the AVF state (safetensors), <c>metrics.json</c> as of the
/// checkpoint's step, <c>state.json</c> (step, settings fingerprint, the unfinished epoch's loss sum) and, written last,
/// <c>manifest.sha256</c>: the SHA-256 of each of those files (<c>sha256sum -c</c> reads it). Written to a fresh folder
/// which then replaces the previous checkpoint, so an interruption while saving leaves the previous one intact; read back
/// only after every file matches the manifest, so a truncated or altered file is named before anything is restored.
/// </summary>
internal static class TrainingCheckpoint
{
    private const string AdapterFile = "adapter.safetensors";
    private const string OptimizerFile = "optimizer.bin";
    private const string AvfFile = "avf.safetensors";
    private const string MetricsFile = "metrics.json";
    private const string StateFile = "state.json";
    private const string ManifestFile = "manifest.sha256";

    private static readonly string[] Files = [AdapterFile, OptimizerFile, AvfFile, MetricsFile, StateFile];

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Whether <paramref name="directory"/> (or its backup from an interrupted save) holds a checkpoint.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>Whether one exists.</returns>
    public static bool Exists(string directory) => Resolve(directory) is not null;

    /// <summary>Writes a checkpoint, replacing the previous one.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="model">The adapted model.</param>
    /// <param name="surgery">Its surgery report.</param>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="avf">The AVF scheduler.</param>
    /// <param name="state">Step and bookkeeping.</param>
    /// <param name="metrics">The metrics log as of <see cref="CheckpointState.Step"/>.</param>
    public static void Save(string directory, TorchSharp.torch.nn.Module model, SurgeryReport surgery, OptimizerHelper optimizer, AvfScheduler avf, CheckpointState state, MetricsLog metrics)
    {
        string full = Path.GetFullPath(directory);
        string fresh = full + ".new";
        string backup = full + ".old";
        if (Directory.Exists(fresh))
        {
            Directory.Delete(fresh, recursive: true);
        }

        Directory.CreateDirectory(fresh);
        VectorFitAdapter.Save(model, surgery, Path.Combine(fresh, AdapterFile), avf);  // mid-run: the warning about AVF steps not yet taken does not apply
        optimizer.save_state_dict(Path.Combine(fresh, OptimizerFile));
        var avfTensors = avf.state_dict().ToTensors();
        try
        {
            SafetensorsWriter.Save(Path.Combine(fresh, AvfFile), avfTensors);
        }
        finally
        {
            foreach (var t in avfTensors.Values)
            {
                t.Dispose();
            }
        }

        File.WriteAllText(Path.Combine(fresh, MetricsFile), metrics.ToJson());
        File.WriteAllText(Path.Combine(fresh, StateFile), JsonSerializer.Serialize(state, Json));
        string manifest = string.Concat(Files.Select(f => $"{Sha256(Path.Combine(fresh, f))}  {f}\n"));
        AtomicFile.Write(Path.Combine(fresh, ManifestFile), s => s.Write(Encoding.UTF8.GetBytes(manifest)));

        if (Directory.Exists(backup))
        {
            Directory.Delete(backup, recursive: true);
        }

        if (Directory.Exists(full))
        {
            Directory.Move(full, backup);
        }

        Directory.Move(fresh, full);
        if (Directory.Exists(backup))
        {
            Directory.Delete(backup, recursive: true);
        }
    }

    /// <summary>
    /// Reads the checkpoint after checking every file against its manifest; parses <c>state.json</c> and the metrics.
    /// Nothing is restored yet.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The verified checkpoint.</returns>
    /// <exception cref="FileNotFoundException">There is no checkpoint.</exception>
    /// <exception cref="InvalidDataException">A file is missing, truncated, altered or unreadable; the message names it.</exception>
    public static VerifiedCheckpoint Open(string directory)
    {
        string folder = Resolve(directory) ?? throw NotFound(directory);
        string manifestPath = Path.Combine(folder, ManifestFile);
        if (!File.Exists(manifestPath))
        {
            throw Damaged(folder, $"it has no {ManifestFile} (it was written by an older version of this sample, or its save was cut short)");
        }

        var recorded = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in File.ReadAllLines(manifestPath))
        {
            string[] parts = line.Split("  ", 2);
            if (parts.Length != 2 || parts[0].Length != 64 || !Files.Contains(parts[1]) || !recorded.TryAdd(parts[1], parts[0]))
            {
                throw Damaged(folder, $"{manifestPath} is corrupt (line \"{line}\")");
            }
        }

        foreach (string file in Files)
        {
            string path = Path.Combine(folder, file);
            if (!recorded.TryGetValue(file, out string? expected))
            {
                throw Damaged(folder, $"{manifestPath} does not list {file}");
            }

            if (!File.Exists(path))
            {
                throw Damaged(folder, $"{path} is missing");
            }

            if (!string.Equals(Sha256(path), expected, StringComparison.OrdinalIgnoreCase))
            {
                throw Damaged(folder, $"{path} is truncated or altered (its SHA-256 differs from the one in {ManifestFile})");
            }
        }

        CheckpointState state = Parse(Path.Combine(folder, StateFile), json => JsonSerializer.Deserialize<CheckpointState>(json, Json));
        MetricsLog metrics = Parse(Path.Combine(folder, MetricsFile), MetricsLog.FromJson);
        return new VerifiedCheckpoint(folder, state, metrics);
    }

    /// <summary>Restores the adapter, the optimizer state and the AVF state of a verified checkpoint into a freshly adapted model.</summary>
    /// <param name="checkpoint">The checkpoint <see cref="Open"/> verified.</param>
    /// <param name="model">The model, adapted with the same surgery as when the checkpoint was written.</param>
    /// <param name="optimizer">A fresh optimizer over the same parameters, in the same order.</param>
    /// <param name="avf">A fresh AVF scheduler over the same layers with the same schedule.</param>
    public static void Restore(VerifiedCheckpoint checkpoint, TorchSharp.torch.nn.Module model, OptimizerHelper optimizer, AvfScheduler avf)
    {
        string folder = checkpoint.Folder;
        VectorFitAdapter.Load(model, Path.Combine(folder, AdapterFile));
        string optimizerPath = Path.Combine(folder, OptimizerFile);
        try
        {
            optimizer.load_state_dict(optimizerPath);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or ArgumentException or InvalidOperationException
            or System.Runtime.InteropServices.ExternalException)
        {
            throw Damaged(folder, $"{optimizerPath} could not be read as this run's AdamW state ({e.Message})", e);
        }

        string avfPath = Path.Combine(folder, AvfFile);
        Dictionary<string, TorchSharp.torch.Tensor> tensors;
        try
        {
            tensors = SafetensorsReader.Load(avfPath);
        }
        catch (SafetensorsFormatException e)
        {
            throw Damaged(folder, $"{avfPath} could not be read ({e.Message})", e);
        }

        try
        {
            avf.load_state_dict(AvfState.FromTensors(tensors));
        }
        catch (ArgumentException e)
        {
            throw Damaged(folder, $"{avfPath} does not fit this run's AVF scheduler ({e.Message})", e);
        }
        finally
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }
        }
    }

    /// <summary>The folder to read: the checkpoint, or the backup an interrupted save left.</summary>
    private static string? Resolve(string directory)
    {
        string full = Path.GetFullPath(directory);
        if (File.Exists(Path.Combine(full, ManifestFile)) || File.Exists(Path.Combine(full, StateFile)))
        {
            return full;
        }

        string backup = full + ".old";
        return File.Exists(Path.Combine(backup, ManifestFile)) ? backup : null;
    }

    private static T Parse<T>(string path, Func<string, T?> parse)
    {
        T? value;
        try
        {
            value = parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidDataException)
        {
            throw Damaged(Path.GetDirectoryName(path)!, $"{path} cannot be parsed ({e.Message})", e);
        }

        return value ?? throw Damaged(Path.GetDirectoryName(path)!, $"{path} is empty (null)");
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static InvalidDataException Damaged(string folder, string problem, Exception? inner = null) => new(
        string.Create(CultureInfo.InvariantCulture, $"--resume: the checkpoint in {folder} cannot be used: {problem}. Nothing was restored or changed. ")
        + "Delete that folder and train again without --resume (or restore it from a backup).",
        inner);

    private static FileNotFoundException NotFound(string directory) =>
        new($"--resume found no checkpoint in {directory}; train once without --resume (a checkpoint is written at each epoch end, on Ctrl+C and on errors).");
}
