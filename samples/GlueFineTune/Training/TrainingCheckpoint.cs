using System.Text.Json;
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

    /// <summary>Settings that must not change across a resume (task, model, variant, batch, lr, seed, …).</summary>
    public required string Fingerprint { get; init; }

    /// <summary>Sum of the training losses of the current (unfinished) epoch's steps.</summary>
    public required double EpochLossSum { get; init; }

    /// <summary>Steps summed in <see cref="EpochLossSum"/>.</summary>
    public required long EpochLossCount { get; init; }

    /// <summary>Why the checkpoint was written (epoch end, interrupted, error).</summary>
    public required string Reason { get; init; }
}

/// <summary>
/// A resumable checkpoint in <c>OUTPUT/checkpoint/</c>: the adapter (trained σ, b and the head, library format),
/// the AdamW state (TorchSharp's <c>save_state_dict</c>), the AVF state (safetensors) and <c>state.json</c>
/// (step, settings fingerprint, the unfinished epoch's loss sum). Written to a fresh folder which then
/// replaces the previous checkpoint, so an interruption while saving leaves the previous one intact.
/// </summary>
internal static class TrainingCheckpoint
{
    private const string AdapterFile = "adapter.safetensors";
    private const string OptimizerFile = "optimizer.bin";
    private const string AvfFile = "avf.safetensors";
    private const string StateFile = "state.json";

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
    public static void Save(string directory, TorchSharp.torch.nn.Module model, SurgeryReport surgery, OptimizerHelper optimizer, AvfScheduler avf, CheckpointState state)
    {
        string full = Path.GetFullPath(directory);
        string fresh = full + ".new";
        string backup = full + ".old";
        if (Directory.Exists(fresh))
        {
            Directory.Delete(fresh, recursive: true);
        }

        Directory.CreateDirectory(fresh);
        VectorFitAdapter.Save(model, surgery, Path.Combine(fresh, AdapterFile), avf.Options);
        optimizer.save_state_dict(Path.Combine(fresh, OptimizerFile));
        var avfTensors = avf.GetState().ToTensors();
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

        File.WriteAllText(Path.Combine(fresh, StateFile), JsonSerializer.Serialize(state, Json));

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

    /// <summary>Reads <c>state.json</c> of the checkpoint.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The state.</returns>
    public static CheckpointState ReadState(string directory)
    {
        string folder = Resolve(directory) ?? throw NotFound(directory);
        string path = Path.Combine(folder, StateFile);
        try
        {
            return JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a valid checkpoint state ({e.Message}); delete the checkpoint folder and train without --resume.", e);
        }
    }

    /// <summary>Restores the adapter, the optimizer state and the AVF state into a freshly adapted model.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="model">The model, adapted with the same surgery as when the checkpoint was written.</param>
    /// <param name="optimizer">A fresh optimizer over the same parameters, in the same order.</param>
    /// <param name="avf">A fresh AVF scheduler over the same layers with the same schedule.</param>
    public static void Restore(string directory, TorchSharp.torch.nn.Module model, OptimizerHelper optimizer, AvfScheduler avf)
    {
        string folder = Resolve(directory) ?? throw NotFound(directory);
        VectorFitAdapter.Load(model, Path.Combine(folder, AdapterFile));
        optimizer.load_state_dict(Path.Combine(folder, OptimizerFile));
        var tensors = SafetensorsReader.Load(Path.Combine(folder, AvfFile));
        try
        {
            avf.LoadState(AvfState.FromTensors(tensors));
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
        if (File.Exists(Path.Combine(full, StateFile)))
        {
            return full;
        }

        string backup = full + ".old";
        return File.Exists(Path.Combine(backup, StateFile)) ? backup : null;
    }

    private static FileNotFoundException NotFound(string directory) =>
        new($"--resume found no checkpoint in {directory}; train once without --resume (a checkpoint is written at each epoch end, on Ctrl+C and on errors).");
}
