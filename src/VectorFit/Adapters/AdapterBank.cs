using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Surgery;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

/// <summary>
/// Many VectorFit adapters on one adapted base model: each adapter is only its σ and b per layer and its head
/// (<see cref="VectorFitConfig.ModulesToSave"/>), so one base holds many, switches between them by copying those small
/// tensors (<see cref="Activate(string)"/>), and serves a batch whose rows belong to different adapters in one pass
/// (<see cref="Route(int[])"/>): <c>y = ((x·V) ⊙ σ[task])·Uᵀ + b[task]</c>.
/// </summary>
/// <remarks>
/// <para>
/// Index 0 is the base model (<see cref="BaseName"/>): the σ, b and head the model held when the bank was created, which must
/// be a freshly adapted base (σ equal to its SVD's, checked). Each loaded adapter keeps its own σ and b per layer and its own
/// head tensors; the model's layers and head hold a working copy of the active adapter's. Loading checks a file exactly as
/// <see cref="VectorFitAdapter.Load"/> does (format, checksums, layers, keys, the base-model fingerprint) before anything changes.
/// </para>
/// <para>
/// Only VectorFit layers (σ and b) can be banked; an SVFT model is refused. The bank replaces each head module with a wrapper
/// that registers the head's own tensors and children under the same names (state_dict keys, <see cref="VectorFitAdapter"/>
/// and optimizers see no difference) and gives each row of a routed batch its adapter's head; <see cref="Dispose"/> puts the
/// original head back. One routed forward at a time per model: a routed head swaps its tensors while it runs.
/// </para>
/// </remarks>
public sealed partial class AdapterBank : IDisposable
{
    /// <summary>The name of row 0, the base model.</summary>
    public const string BaseName = "base";

    /// <summary>
    /// The most adapters a bank holds besides the base (64): enough for serving many tasks on one base; each adapter costs its σ,
    /// b and head, and a routed batch stacks the σ and b of the adapters its rows use.
    /// </summary>
    public const int MaxAdapters = 64;

    private readonly nn.Module _model;
    private readonly SurgeryReport _report;
    private readonly List<(string Name, VectorFitLinear Layer)> _layers;
    private readonly Dictionary<VectorFitLinear, int> _layerIndex = new(ReferenceEqualityComparer.Instance);
    private readonly List<HeadSlot> _slots = new();
    private readonly List<(ChildSlot Slot, nn.Module<Tensor, Tensor> Original, RoutedHead Wrapper)> _heads = new();
    private readonly List<BankEntry> _entries = new();
    private readonly List<string> _headProblems = new();
    private (long Sigma, long Bias)[]? _tableLayout;
    private bool _tableLayoutKnown;
    private int _active;
    private bool _disposed;

    private AdapterBank(nn.Module model, SurgeryReport report, List<(string Name, VectorFitLinear Layer)> layers)
    {
        _model = model;
        _report = report;
        _layers = layers;
        for (var i = 0; i < layers.Count; i++)
        {
            _layerIndex.Add(layers[i].Layer, i);
        }
    }

    /// <summary>
    /// Creates a bank on a freshly adapted VectorFit model: row 0 (<see cref="BaseName"/>) is the model as it is now (σ, biases,
    /// heads), and each head in <see cref="SurgeryReport.ModulesToSave"/> is wrapped so routed batches reach it.
    /// </summary>
    /// <param name="model">The model <see cref="ModelSurgery.Apply"/> adapted with the VectorFit method, before training or loading anything.</param>
    /// <param name="report">The report the surgery returned for <paramref name="model"/>.</param>
    /// <returns>The bank, holding only the base; dispose it to give the model back its original head modules.</returns>
    /// <exception cref="ArgumentException">
    /// The model is not adapted with VectorFit (SVFT layers cannot be banked), the report does not describe it, a layer's σ is not
    /// its SVD's (an adapter was loaded or training ran), or a head cannot be wrapped (the message says why and how to fix it).
    /// </exception>
    public static AdapterBank Create(nn.Module model, SurgeryReport report)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(report);
        var found = AdaptedLayers.Find(model);
        if (found.Count == 0 || found.Any(l => l.Layer is not VectorFitLinear))
        {
            var other = found.Where(l => l.Layer is not VectorFitLinear).Select(l => l.Name).ToList();
            throw new ArgumentException(
                found.Count == 0
                    ? "The model holds no VectorFitLinear layer: apply ModelSurgery.Apply(model, config) with the VectorFit method before creating an AdapterBank."
                    : $"An AdapterBank holds VectorFit adapters (σ and b per layer) only, but {NameMatch.Sample(other)} are {AdaptedLayers.KindsOf(found.Where(l => l.Layer is not VectorFitLinear).Select(l => (nn.Module)l.Layer))} layers. " +
                      "Adapt the model with Method = new VectorFitMethod() to bank adapters (SVFT adapters load one at a time with VectorFitAdapter.Load).",
                nameof(model));
        }

        if (!found.Select(l => l.Name).ToHashSet(StringComparer.Ordinal).SetEquals(report.Layers.Select(l => l.Name)))
        {
            throw new ArgumentException(
                $"The report lists {report.Layers.Count} adapted layers but the model holds {found.Count}: pass the report ModelSurgery.Apply returned for this model.",
                nameof(report));
        }

        var layers = found.Select(l => (l.Name, (VectorFitLinear)l.Layer)).ToList();
        var moved = layers.Where(l => !SigmaIsInitial(l.Item2)).Select(l => l.Name).ToList();
        if (moved.Count > 0)
        {
            throw new ArgumentException(
                $"The σ of {NameMatch.Sample(moved)} differ from their SVD's, so the model is no longer the base model (an adapter was loaded, or it trained). " +
                "Create the AdapterBank right after ModelSurgery.Apply, then load adapters into the bank.",
                nameof(model));
        }

        var bank = new AdapterBank(model, report, layers);
        try
        {
            bank.WrapHeads();
            bank._entries.Add(bank.SnapshotBase());
        }
        catch
        {
            bank.Dispose();
            throw;
        }

        return bank;
    }

    /// <summary>The adapters' names by index: <see cref="BaseName"/> first, then in the order they were added.</summary>
    public IReadOnlyList<string> Names => _entries.Select(e => e.Name).ToList();

    /// <summary>The number of rows, K: the base plus the adapters.</summary>
    public int Count => _entries.Count;

    /// <summary>The name of the adapter the model's layers and heads hold now (<see cref="BaseName"/> at first).</summary>
    public string ActiveAdapter => _entries[_active].Name;

    /// <summary>The index of the adapter called <paramref name="name"/> (0 for <see cref="BaseName"/>).</summary>
    /// <param name="name">An adapter's name.</param>
    /// <returns>Its index in <see cref="Names"/>.</returns>
    /// <exception cref="ArgumentException">No adapter has that name (the message lists the names).</exception>
    public int IndexOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryGetIndex(name, out var index)
            ? index
            : throw new ArgumentException($"The bank has no adapter named '{name}'. Adapters: {string.Join(", ", Names)}.", nameof(name));
    }

    /// <summary>Looks up an adapter's index by name.</summary>
    /// <param name="name">An adapter's name.</param>
    /// <param name="index">Its index, or -1.</param>
    /// <returns>Whether the bank has an adapter of that name.</returns>
    public bool TryGetIndex(string name, out int index)
    {
        index = _entries.FindIndex(e => string.Equals(e.Name, name, StringComparison.Ordinal));
        return index >= 0;
    }

    /// <summary>
    /// Loads an adapter file into the bank under <paramref name="name"/> (the model's layers and heads do not change): the file is
    /// checked exactly as <see cref="VectorFitAdapter.Load"/> checks it, against this bank's base model.
    /// </summary>
    /// <param name="name">A new, unique name for the adapter.</param>
    /// <param name="path">The adapter file.</param>
    /// <returns>The adapter's index.</returns>
    /// <exception cref="ArgumentException">The name is empty or taken, or the bank is full (<see cref="MaxAdapters"/>).</exception>
    /// <exception cref="AdapterFormatException">The file is unreadable or corrupt.</exception>
    /// <exception cref="AdapterMismatchException">
    /// The adapter belongs to another base model or another surgery, or saves other heads than this bank's <see cref="SurgeryReport.ModulesToSave"/>.
    /// </exception>
    public int Load(string name, string path)
    {
        ThrowIfDisposed();
        CheckNewName(name);
        var (info, loaded) = VectorFitAdapter.ReadChecked(_model, path);
        try
        {
            var heads = _report.ModulesToSave;
            if (!info.ModulesToSave.ToHashSet(StringComparer.Ordinal).SetEquals(heads))
            {
                var problem = $"the adapter saves the heads [{string.Join(", ", info.ModulesToSave)}] but this bank's are [{string.Join(", ", heads)}]";
                throw new AdapterMismatchException(
                    $"Cannot load adapter '{path}' into the bank as '{name}': {problem}; the bank was not changed. Every adapter of a bank has the same heads: " +
                    "train them with the same ModulesToSave as the report the bank was created with.",
                    [problem]);
            }

            var entry = new BankEntry(name, isBase: false);
            try
            {
                for (var i = 0; i < _layers.Count; i++)
                {
                    var (layerName, layer) = _layers[i];
                    entry.Sigma.Add(FromFileOrBase(loaded, $"{layerName}.{VectorFitLinear.SigmaKey}", _entries[0].Sigma[i], layer.Options.TrainSigma));
                    entry.Bias.Add(_entries[0].Bias[i] is { } baseBias
                        ? FromFileOrBase(loaded, $"{layerName}.{SvdAdaptedLinear.BiasKey}", baseBias, layer.Options.TrainBias)
                        : null);
                }

                foreach (var (slot, baseTensor) in _slots.Zip(_entries[0].Head))
                {
                    entry.Head.Add(FromFileOrBase(loaded, slot.Key, baseTensor, torch.is_floating_point(baseTensor.dtype)));
                }
            }
            catch
            {
                entry.Dispose();
                throw;
            }

            _entries.Add(entry);
            return _entries.Count - 1;
        }
        finally
        {
            foreach (var tensor in loaded.Values)
            {
                tensor.Dispose();
            }
        }
    }

    /// <summary>Adds an adapter equal to the base (σ₀, the base biases, a copy of the base heads), to train in routed batches.</summary>
    /// <param name="name">A new, unique name.</param>
    /// <returns>The adapter's index.</returns>
    /// <exception cref="ArgumentException">The name is empty or taken, or the bank is full (<see cref="MaxAdapters"/>).</exception>
    public int Add(string name)
    {
        ThrowIfDisposed();
        CheckNewName(name);
        var baseEntry = _entries[0];
        return AddEntry(name, i => baseEntry.Sigma[i], i => baseEntry.Bias[i], s => baseEntry.Head[s]);
    }

    /// <summary>
    /// Makes the model's layers and heads hold the adapter called <paramref name="name"/>: a copy of its σ, b and head tensors into
    /// the model's (no SVD, no new tensor). The model then computes exactly what a fresh copy with that adapter loaded computes.
    /// </summary>
    /// <param name="name">An adapter's name, or <see cref="BaseName"/>.</param>
    /// <exception cref="ArgumentException">No adapter has that name.</exception>
    public void Activate(string name) => Activate(IndexOf(name));

    /// <summary>Makes the model hold the adapter at <paramref name="index"/> (see <see cref="Activate(string)"/>).</summary>
    /// <param name="index">An index in <see cref="Names"/> (0 is the base).</param>
    /// <exception cref="ArgumentOutOfRangeException">The index is not between 0 and <see cref="Count"/> − 1.</exception>
    public void Activate(int index)
    {
        ThrowIfDisposed();
        CheckIndex(index, nameof(index));
        var entry = _entries[index];
        using (torch.no_grad())
        {
            for (var i = 0; i < _layers.Count; i++)
            {
                var layer = _layers[i].Layer;
                CopyInto(layer.sigma, entry.Sigma[i]);
                if (layer.bias is { } bias && entry.Bias[i] is { } source)
                {
                    CopyInto(bias, source);
                }
            }

            for (var s = 0; s < _slots.Count; s++)
            {
                CopyInto(_slots[s].Live, entry.Head[s]);
            }
        }

        _active = index;
    }

    /// <summary>Removes an adapter and frees its tensors; the adapters after it move up one index. Unloading the active adapter activates the base.</summary>
    /// <param name="name">An adapter's name (not <see cref="BaseName"/>).</param>
    /// <exception cref="ArgumentException">No adapter has that name, or it is the base.</exception>
    public void Unload(string name)
    {
        ThrowIfDisposed();
        var index = IndexOf(name);
        if (index == 0)
        {
            throw new ArgumentException($"'{BaseName}' is the base model's row and cannot be unloaded; unload the adapters by their names ({string.Join(", ", Names.Skip(1))}).", nameof(name));
        }

        if (index == _active)
        {
            Activate(0);
        }
        else if (index < _active)
        {
            _active--;
        }

        _entries[index].Dispose();
        _entries.RemoveAt(index);
    }

    /// <summary>Saves an adapter of the bank as an adapter file (<see cref="VectorFitAdapter.Save(nn.Module, SurgeryReport, string, AvfOptions?, bool)"/>), e.g. one trained in routed batches or combined.</summary>
    /// <param name="name">The adapter's name.</param>
    /// <param name="path">The file to write (atomically).</param>
    /// <param name="avfOptions">The AVF schedule to record, if any.</param>
    /// <exception cref="ArgumentException">No adapter has that name.</exception>
    /// <remarks>It activates the adapter for the save and then reactivates the one that was active.</remarks>
    public void Save(string name, string path, AvfOptions? avfOptions = null)
    {
        ThrowIfDisposed();
        var index = IndexOf(name);
        var previous = _active;
        Activate(index);
        try
        {
            VectorFitAdapter.Save(_model, _report, path, avfOptions);
        }
        finally
        {
            Activate(previous);
        }
    }

    /// <summary>
    /// The parameters that train for the adapter called <paramref name="name"/> in routed batches: its σ and b (as the surgery's
    /// options let them train) and its floating-point head tensors, including vectors AVF has frozen for now. Build the optimizer from the adapters being trained.
    /// </summary>
    /// <param name="name">An adapter's name (the base does not train).</param>
    /// <returns>A new list of the adapter's parameters.</returns>
    /// <exception cref="ArgumentException">No adapter has that name, or it is the base.</exception>
    public List<Parameter> GetTrainableParameters(string name)
    {
        var index = IndexOf(name);
        if (index == 0)
        {
            throw new ArgumentException($"'{BaseName}' is the base model's row: it does not train. Add an adapter to train (bank.Add(name)).", nameof(name));
        }

        // What trains is fixed by the surgery's options, not read from requires_grad: AVF turns that off for a vector frozen for now,
        // which still belongs to the optimizer (as SurgeryReport.GetTrainableParameters keeps frozen vectors).
        var entry = _entries[index];
        var result = new List<Parameter>();
        for (var i = 0; i < _layers.Count; i++)
        {
            var options = _layers[i].Layer.Options;
            if (options.TrainSigma)
            {
                result.Add((Parameter)entry.Sigma[i]);
            }

            if (options.TrainBias && entry.Bias[i] is Parameter bias)
            {
                result.Add(bias);
            }
        }

        result.AddRange(entry.Head.Where(t => torch.is_floating_point(t.dtype)).Cast<Parameter>());
        return result;
    }

    /// <summary>
    /// The adapter's trained vectors as <c>(key, tensor)</c> pairs under the model's state_dict keys: each layer's σ and b, then the
    /// head tensors. The tensors are the bank's own (do not dispose them); a <c>Parameter</c> where the adapter trains.
    /// </summary>
    /// <param name="name">An adapter's name, or <see cref="BaseName"/>.</param>
    /// <returns>The adapter's tensors in a fixed order.</returns>
    public IReadOnlyList<(string key, Tensor tensor)> GetTensors(string name)
    {
        var entry = _entries[IndexOf(name)];
        var result = new List<(string, Tensor)>();
        for (var i = 0; i < _layers.Count; i++)
        {
            result.Add(($"{_layers[i].Name}.{VectorFitLinear.SigmaKey}", entry.Sigma[i]));
            if (entry.Bias[i] is { } bias)
            {
                result.Add(($"{_layers[i].Name}.{SvdAdaptedLinear.BiasKey}", bias));
            }
        }

        result.AddRange(_slots.Select((s, i) => (s.Key, entry.Head[i])));
        return result;
    }

    /// <summary>Gives the model back its original head modules and frees every adapter's tensors. The model keeps the active adapter's values.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var (slot, original, wrapper) in _heads)
        {
            ChildReplacer.Plan(slot, wrapper, original.GetType()).Apply(original);
        }

        foreach (var entry in _entries)
        {
            entry.Dispose();
        }

        _entries.Clear();
    }

    /// <summary>The bank's index of an adapted layer, or -1 when the layer is not one of the bank's model.</summary>
    internal int LayerIndex(VectorFitLinear layer) => _layerIndex.TryGetValue(layer, out var i) ? i : -1;

    /// <summary>The adapters, by index.</summary>
    internal IReadOnlyList<BankEntry> Entries => _entries;

    /// <summary>The head tensors the bank swaps, in the order of each entry's <see cref="BankEntry.Head"/>.</summary>
    internal IReadOnlyList<HeadSlot> Slots => _slots;

    private static bool SigmaIsInitial(VectorFitLinear layer)
    {
        using var scope = torch.NewDisposeScope();
        return layer.sigma.detach().eq(layer.initial_sigma).all().item<bool>();
    }

    private static void CopyInto(Tensor target, Tensor source)
    {
        // copy_ writes in place; TorchSharp may hand back a second handle to the same tensor, which is released here.
        var result = target.copy_(source);
        if (!ReferenceEquals(result, target))
        {
            result.Dispose();
        }
    }

    private static Tensor FromFileOrBase(Dictionary<string, Tensor> loaded, string key, Tensor baseTensor, bool trains)
    {
        using var noGrad = torch.no_grad();
        var value = loaded.TryGetValue(key, out var fromFile)
            ? fromFile.to(baseTensor.dtype, baseTensor.device, copy: true)
            : baseTensor.detach().clone();
        return NewParameter(value, trains);
    }

    private static Parameter NewParameter(Tensor value, bool trains)
    {
        var parameter = new Parameter(value, requires_grad: trains);
        parameter.DetachFromDisposeScope();
        return parameter;
    }

    private int AddEntry(string name, Func<int, Tensor> sigma, Func<int, Tensor?> bias, Func<int, Tensor> head)
    {
        var entry = new BankEntry(name, isBase: false);
        try
        {
            using var noGrad = torch.no_grad();
            for (var i = 0; i < _layers.Count; i++)
            {
                var options = _layers[i].Layer.Options;
                entry.Sigma.Add(NewParameter(sigma(i).detach().to(_entries[0].Sigma[i].dtype, copy: true), options.TrainSigma));
                entry.Bias.Add(bias(i) is { } b ? NewParameter(b.detach().to(_entries[0].Bias[i]!.dtype, copy: true), options.TrainBias) : null);
            }

            for (var s = 0; s < _slots.Count; s++)
            {
                var baseTensor = _entries[0].Head[s];
                entry.Head.Add(NewParameter(head(s).detach().to(baseTensor.dtype, copy: true), torch.is_floating_point(baseTensor.dtype)));
            }
        }
        catch
        {
            entry.Dispose();
            throw;
        }

        _entries.Add(entry);
        return _entries.Count - 1;
    }

    private BankEntry SnapshotBase()
    {
        var entry = new BankEntry(BaseName, isBase: true);
        using var noGrad = torch.no_grad();
        foreach (var (_, layer) in _layers)
        {
            entry.Sigma.Add(NewParameter(layer.sigma.detach().clone(), trains: false));
            entry.Bias.Add(layer.bias is { } bias ? NewParameter(bias.detach().clone(), trains: false) : null);
        }

        foreach (var slot in _slots)
        {
            entry.Head.Add(NewParameter(slot.Live.detach().clone(), trains: false));
        }

        return entry;
    }

    private void WrapHeads()
    {
        var walk = ModuleTree.Walk(_model);
        for (var h = 0; h < _report.ModulesToSave.Count; h++)
        {
            var name = _report.ModulesToSave[h];
            var (slot, module) = walk.FirstOrDefault(w => w.Slot.Path == name);
            if (module is not nn.Module<Tensor, Tensor> head)
            {
                throw new ArgumentException(
                    module is null
                        ? $"The model has no module named '{name}' (a module to save in the report)."
                        : $"The head '{name}' is a {ChildReplacer.TypeName(module.GetType())}, not a Module<Tensor, Tensor>, so the bank cannot give each row of a batch its own head. " +
                          "Bank adapters of a model whose heads map one tensor to one tensor.",
                    nameof(_model));
            }

            var plan = ChildReplacer.Plan(slot, head, typeof(RoutedHead));
            if (plan.Problems.Count > 0)
            {
                throw new ArgumentException($"The bank wraps each head to route rows to their adapter's head, but: {string.Join(" ", plan.Problems)}", nameof(_model));
            }

            var wrapper = new RoutedHead(name, head, this);
            var before = head.state_dict().Keys.ToList();
            var after = wrapper.state_dict().Keys.ToList();
            if (!before.SequenceEqual(after))
            {
                throw new ArgumentException(
                    $"The head '{name}' cannot be wrapped without changing its state_dict keys ({NameMatch.Sample(before)} became {NameMatch.Sample(after)}).", nameof(_model));
            }

            plan.Apply(wrapper);
            _heads.Add((slot, head, wrapper));
            _slots.AddRange(HeadSlot.Find(name, head, _headProblems));
        }
    }

    private void CheckNewName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (TryGetIndex(name, out _))
        {
            throw new ArgumentException($"The bank already has an adapter named '{name}'; give each adapter its own name (or Unload(\"{name}\") first). Adapters: {string.Join(", ", Names)}.", nameof(name));
        }

        if (_entries.Count - 1 >= MaxAdapters)
        {
            throw new ArgumentException(
                $"The bank holds {MaxAdapters} adapters besides the base, its limit (AdapterBank.MaxAdapters); cannot add '{name}'. Unload one first, or use a second bank on another copy of the base.",
                nameof(name));
        }
    }

    private void CheckIndex(int index, string parameterName)
    {
        if (index < 0 || index >= _entries.Count)
        {
            throw new ArgumentOutOfRangeException(parameterName, index, $"Adapter index {index} is not in the bank: indices go from 0 ({BaseName}) to {_entries.Count - 1} ({string.Join(", ", Names.Select((n, i) => $"{i} = {n}"))}).");
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
