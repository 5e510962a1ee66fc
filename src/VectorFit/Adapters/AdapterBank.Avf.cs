using TorchSharp.Modules;

namespace VectorFit.Adapters;

public sealed partial class AdapterBank
{
    /// <summary>
    /// An <see cref="AvfScheduler"/> for the adapter called <paramref name="name"/> as it trains in routed batches: Adaptive Vector
    /// Freezing (method §3) over that adapter's own σ and b, exactly as a scheduler built with <see cref="AvfScheduler.FromModel"/>
    /// on a model holding only this adapter would run it on the adapter's rows alone.
    /// </summary>
    /// <param name="name">An adapter's name (not <see cref="BaseName"/>: the base does not train).</param>
    /// <param name="options">The adapter's schedule (each adapter may have its own); validated here.</param>
    /// <param name="totalSteps">The optimizer steps this adapter will take (the batches that hold its rows), when known; see <see cref="AvfScheduler.ScheduleWarning"/>.</param>
    /// <returns>A scheduler whose <see cref="AvfScheduler.AdapterName"/> is <paramref name="name"/>; its <c>v_0</c> are the adapter's values now.</returns>
    /// <exception cref="ArgumentException">
    /// No adapter has that name, it is the base, the options are invalid, <c>K</c> exceeds the adapter's trainable vectors, or
    /// <paramref name="totalSteps"/> is below 1.
    /// </exception>
    /// <remarks>
    /// <para>
    /// The vectors are the adapter's σ and b of each bank layer that trains them, in the model's layer order (σ before b), under the
    /// model's names (<c>layer.sigma</c>, <c>layer.bias</c>): the same list, names and tie-break order as a model scheduler's, so a
    /// <see cref="AvfScheduler.state_dict"/> of one loads into the other. The adapter's head is never part of AVF (method §3, Decided 5).
    /// Freezing sets <c>requires_grad = false</c> and <c>grad = null</c> on the adapter's own tensors (each adapter has its own
    /// tensor per layer), so a frozen vector of one adapter gets no gradient from a routed batch while the same layer's vector of
    /// another adapter trains, and the optimizers skip it (its state kept).
    /// </para>
    /// <para>
    /// "As if alone": an adapter's run alone on its rows takes one optimizer step per batch that holds its rows. So call
    /// <see cref="AvfScheduler.step"/> on an adapter's scheduler after each optimizer step of a batch that held at least one of its
    /// rows, and not otherwise: its step count <c>t</c>, its AVF steps <c>t_i + j·t_f</c> and its smoothed strengths <c>S'</c> are
    /// counted in its own steps, and a batch without its rows changes nothing of its AVF state (its training strength does not
    /// change either, as it takes no optimizer step). For the optimizer to skip an absent adapter as well, give it a null gradient:
    /// call <see cref="ClearGradients"/> before each backward pass (not <c>optimizer.zero_grad()</c>, which leaves zero tensors
    /// that Adam's and SGD's momentum still move), or use one optimizer per adapter and step only those with rows in the batch.
    /// </para>
    /// </remarks>
    public AvfScheduler CreateAvfScheduler(string name, AvfOptions options, long? totalSteps = null)
    {
        ThrowIfDisposed();
        var index = IndexOf(name);
        if (index == 0)
        {
            throw new ArgumentException($"'{BaseName}' is the base model's row: it does not train, so it has no AVF. Build a scheduler for an adapter ({string.Join(", ", Names.Skip(1))}).", nameof(name));
        }

        AvfScheduler.CheckOptions(options, totalSteps);
        var entry = _entries[index];
        var vectors = new List<AvfVector>();
        for (var i = 0; i < _layers.Count; i++)
        {
            var (layerName, layer) = _layers[i];
            if (layer.Options.TrainSigma)
            {
                vectors.Add(AvfScheduler.BankVector(vectors.Count, layerName, layer, AvfVectorKind.Sigma, (Parameter)entry.Sigma[i]));
            }

            if (layer.Options.TrainBias && entry.Bias[i] is Parameter bias)
            {
                vectors.Add(AvfScheduler.BankVector(vectors.Count, layerName, layer, AvfVectorKind.Bias, bias));
            }
        }

        return new AvfScheduler(vectors, options, totalSteps, new AvfBinding(this, entry));
    }

    /// <summary>
    /// Sets the gradient of every adapter's σ, b and head tensors to <c>null</c> (as <c>Module.zero_grad()</c> does), so that after
    /// the next backward pass only the adapters with rows in the batch hold a gradient, and the optimizers skip the others.
    /// </summary>
    /// <remarks>
    /// Call it before each routed backward pass when one optimizer holds several adapters: <c>optimizer.zero_grad()</c> zeroes the
    /// gradients in place instead, and SGD with momentum, Adam and AdamW still move a parameter whose gradient is a zero tensor, so an
    /// adapter absent from a batch would move. With null gradients each adapter's parameters, optimizer state (AdamW counts steps per
    /// parameter) and AVF state follow exactly its run alone on its rows (see <see cref="CreateAvfScheduler"/>).
    /// </remarks>
    public void ClearGradients()
    {
        ThrowIfDisposed();
        foreach (var tensor in _entries.SelectMany(e => e.All()))
        {
            tensor.grad = null;
        }
    }

    /// <summary>
    /// Saves an adapter of the bank as an adapter file, recording the AVF schedule of <paramref name="avf"/> and the AVF steps it took,
    /// exactly as <see cref="VectorFitAdapter.Save(TorchSharp.torch.nn.Module, SurgeryReport, string, AvfScheduler, bool)"/> does for a model.
    /// </summary>
    /// <param name="name">The adapter's name.</param>
    /// <param name="path">The file to write (atomically).</param>
    /// <param name="avf">The adapter's scheduler, from <see cref="CreateAvfScheduler"/> for this adapter of this bank.</param>
    /// <returns>The record written, and a warning when the schedule has AVF steps but the adapter took none (print it).</returns>
    /// <exception cref="ArgumentException">
    /// No adapter has that name, or <paramref name="avf"/> is not this adapter's scheduler in this bank (another adapter's, another
    /// bank's, or a model's); nothing is written.
    /// </exception>
    /// <remarks>It activates the adapter for the save and then reactivates the one that was active.</remarks>
    public AdapterSaveResult Save(string name, string path, AvfScheduler avf)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(avf);
        var index = IndexOf(name);
        if (avf.Binding is not { } binding || !ReferenceEquals(binding.Bank, this) || !ReferenceEquals(binding.Entry, _entries[index]))
        {
            var whose = avf.Binding is null
                ? "a model's own layers (AvfScheduler.FromModel)"
                : ReferenceEquals(avf.Binding.Bank, this) ? $"the adapter '{avf.Binding.AdapterName}'" : $"the adapter '{avf.Binding.AdapterName}' of another bank";
            throw new ArgumentException(
                $"The AVF scheduler given to save '{name}' is for {whose}, not for '{name}' of this bank. Pass the scheduler bank.CreateAvfScheduler(\"{name}\", ...) returned. Nothing was written to '{path}'.",
                nameof(avf));
        }

        var previous = _active;
        Activate(index);
        try
        {
            return VectorFitAdapter.SaveWithAvf(_model, _report, path, avf);
        }
        finally
        {
            Activate(previous);
        }
    }

    /// <summary>Ties an <see cref="AvfScheduler"/> to one adapter of a bank, so that it refuses to run once the adapter is gone.</summary>
    internal sealed class AvfBinding
    {
        public AvfBinding(AdapterBank bank, BankEntry entry)
        {
            Bank = bank;
            Entry = entry;
        }

        /// <summary>The bank.</summary>
        public AdapterBank Bank { get; }

        /// <summary>The adapter's entry (the scheduler's vectors are its tensors).</summary>
        public BankEntry Entry { get; }

        /// <summary>The adapter's name.</summary>
        public string AdapterName => Entry.Name;

        /// <summary>Throws when the adapter was unloaded or the bank disposed: its tensors are freed.</summary>
        public void ThrowIfGone()
        {
            if (Bank._disposed || !Bank._entries.Contains(Entry))
            {
                throw new InvalidOperationException(
                    $"This AVF scheduler is for the adapter '{AdapterName}' of an AdapterBank, which " +
                    (Bank._disposed ? "has been disposed" : "has since been unloaded from the bank") +
                    ", so its σ and b are freed. Build a new scheduler with bank.CreateAvfScheduler for an adapter the bank holds (load its state with load_state_dict to resume).");
            }
        }
    }
}
