namespace VectorFit.Adapters;

/// <summary>What <see cref="VectorFitAdapter.Save(TorchSharp.torch.nn.Module, SurgeryReport, string, AvfScheduler, bool)"/> wrote, and what the caller should be told about it.</summary>
public sealed record AdapterSaveResult
{
    /// <summary>The record written into the file, as <see cref="VectorFitAdapter.ReadInfo"/> reads it back.</summary>
    public required AdapterInfo Info { get; init; }

    /// <summary>
    /// Why the adapter may not be what the run intended (AVF never ran: the training loop did not call <c>avf.step()</c>), or
    /// <c>null</c>. The library writes nothing to the console: print it, as <see cref="AvfScheduler.ScheduleWarning"/>.
    /// </summary>
    public string? Warning { get; init; }
}
