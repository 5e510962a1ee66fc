using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>One vector's part of an <see cref="AvfState"/>.</summary>
/// <param name="Name">The vector's name (<c>layer.sigma</c> or <c>layer.bias</c>).</param>
/// <param name="Index">Its position in the scheduler's list (the tie-break order).</param>
/// <param name="SmoothedStrength">Its smoothed training strength <c>S'</c>.</param>
/// <param name="IsFrozen">Whether it is frozen.</param>
/// <param name="Initial">Its value before fine-tuning, <c>v_0</c>, in float64.</param>
public sealed record AvfVectorState(string Name, int Index, double SmoothedStrength, bool IsFrozen, IReadOnlyList<double> Initial);

/// <summary>
/// Everything an <see cref="AvfScheduler"/> needs to resume exactly: the step count, the schedule, and per
/// vector the smoothed strength, frozen flag and initial value. Plain data; <see cref="ToTensors"/> and
/// <see cref="FromTensors"/> convert it to and from named CPU tensors (for a safetensors adapter file).
/// </summary>
/// <param name="StepCount">Optimizer steps taken so far (the last <see cref="AvfScheduler.step"/> call's step number).</param>
/// <param name="AvfOptions">The schedule.</param>
/// <param name="Vectors">One entry per vector, in the scheduler's order.</param>
public sealed record AvfState(long StepCount, AvfOptions AvfOptions, IReadOnlyList<AvfVectorState> Vectors)
{
    /// <summary>The default key prefix of <see cref="ToTensors"/>.</summary>
    public const string DefaultPrefix = "avf.";

    private const string VectorInfix = "vector.";
    private const string InitialKey = ".initial";
    private const string StrengthKey = ".smoothed_strength";
    private const string FrozenKey = ".frozen";
    private const string IndexKey = ".index";

    /// <summary>
    /// The state as new CPU tensors the caller owns: <c>{prefix}step</c> int64 (1), <c>{prefix}schedule</c> int64
    /// [t_i, t_f, n_f, k], <c>{prefix}beta</c> float64 (1), and per vector <c>{prefix}vector.{name}.initial</c>
    /// float64 (dim v), <c>.smoothed_strength</c> float64 (1), <c>.frozen</c> int64 (1, 0 or 1), <c>.index</c> int64 (1).
    /// </summary>
    /// <param name="prefix">Prepended to every key.</param>
    /// <returns>The tensors by key; float64 holds every value exactly.</returns>
    public Dictionary<string, Tensor> ToTensors(string prefix = DefaultPrefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            [prefix + "step"] = torch.tensor(new[] { StepCount }),
            [prefix + "schedule"] = torch.tensor(new[] { AvfOptions.InitialStep, AvfOptions.Interval, AvfOptions.AvfSteps, (long)AvfOptions.K }),
            [prefix + "beta"] = torch.tensor(new[] { AvfOptions.Beta }),
        };
        foreach (var vector in Vectors)
        {
            var key = prefix + VectorInfix + vector.Name;
            result[key + InitialKey] = torch.tensor(vector.Initial.ToArray());
            result[key + StrengthKey] = torch.tensor(new[] { vector.SmoothedStrength });
            result[key + FrozenKey] = torch.tensor(new[] { vector.IsFrozen ? 1L : 0L });
            result[key + IndexKey] = torch.tensor(new[] { (long)vector.Index });
        }

        foreach (var tensor in result.Values)
        {
            tensor.DetachFromDisposeScope();
        }

        return result;
    }

    /// <summary>Reads a state written by <see cref="ToTensors"/>; keys without <paramref name="prefix"/> are ignored.</summary>
    /// <param name="tensors">The tensors, e.g. read from an adapter file; not disposed.</param>
    /// <param name="prefix">The prefix the state was written with.</param>
    /// <returns>The state; <see cref="AvfScheduler.load_state_dict"/> checks it against the model.</returns>
    /// <exception cref="ArgumentException">A key is missing, unknown, or holds a tensor of the wrong dtype or size.</exception>
    public static AvfState FromTensors(IReadOnlyDictionary<string, Tensor> tensors, string prefix = DefaultPrefix)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(prefix);
        var step = ReadLongs(tensors, prefix + "step", 1)[0];
        var schedule = ReadLongs(tensors, prefix + "schedule", 4);
        var beta = ReadDoubles(tensors, prefix + "beta", 1)[0];
        if (schedule[2] > int.MaxValue || schedule[3] > int.MaxValue || schedule[2] < int.MinValue || schedule[3] < int.MinValue)
        {
            throw new ArgumentException($"'{prefix}schedule' holds n_f = {schedule[2]}, k = {schedule[3]}, beyond the range of a 32-bit integer; the AVF state is corrupt.", nameof(tensors));
        }

        var options = new AvfOptions
        {
            InitialStep = schedule[0], Interval = schedule[1], AvfSteps = (int)schedule[2], K = (int)schedule[3], Beta = beta,
        };

        var names = new List<string>();
        var vectorPrefix = prefix + VectorInfix;
        foreach (var key in tensors.Keys)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal) || key == prefix + "step" || key == prefix + "schedule" || key == prefix + "beta")
            {
                continue;
            }

            if (key.StartsWith(vectorPrefix, StringComparison.Ordinal) && key.EndsWith(InitialKey, StringComparison.Ordinal))
            {
                names.Add(key[vectorPrefix.Length..^InitialKey.Length]);
            }
            else if (!(key.StartsWith(vectorPrefix, StringComparison.Ordinal) &&
                       (key.EndsWith(StrengthKey, StringComparison.Ordinal) || key.EndsWith(FrozenKey, StringComparison.Ordinal) || key.EndsWith(IndexKey, StringComparison.Ordinal))))
            {
                throw new ArgumentException($"Unknown AVF state key '{key}'; expected {prefix}step, {prefix}schedule, {prefix}beta or {vectorPrefix}<name>.initial/.smoothed_strength/.frozen/.index.", nameof(tensors));
            }
        }

        var vectors = new List<AvfVectorState>(names.Count);
        foreach (var name in names)
        {
            var key = vectorPrefix + name;
            var index = ReadLongs(tensors, key + IndexKey, 1)[0];
            var frozen = ReadLongs(tensors, key + FrozenKey, 1)[0];
            if (frozen is not (0 or 1) || index < 0 || index >= names.Count)
            {
                throw new ArgumentException($"AVF state for '{name}' holds frozen = {frozen} (expected 0 or 1) and index = {index} (expected 0 to {names.Count - 1}); the state is corrupt.", nameof(tensors));
            }

            vectors.Add(new AvfVectorState(name, (int)index, ReadDoubles(tensors, key + StrengthKey, 1)[0], frozen == 1, ReadDoubles(tensors, key + InitialKey, -1)));
        }

        vectors.Sort((a, b) => a.Index.CompareTo(b.Index));
        for (var i = 0; i < vectors.Count; i++)
        {
            if (vectors[i].Index != i)
            {
                throw new ArgumentException($"AVF state vector indices must be 0 to {vectors.Count - 1} without repeats; '{vectors[i].Name}' has index {vectors[i].Index}. The state is corrupt.", nameof(tensors));
            }
        }

        return new AvfState(step, options, vectors);
    }

    private static Tensor Lookup(IReadOnlyDictionary<string, Tensor> tensors, string key, ScalarType dtype, long length)
    {
        if (!tensors.TryGetValue(key, out var tensor))
        {
            throw new ArgumentException($"The AVF state has no '{key}' tensor; it was not written by AvfState.ToTensors or is truncated.", nameof(tensors));
        }

        if (tensor.dtype != dtype || tensor.dim() != 1 || (length >= 0 && tensor.shape[0] != length))
        {
            var expected = length >= 0 ? length.ToString(CultureInfo.InvariantCulture) : "n";
            throw new ArgumentException($"AVF state tensor '{key}' must be {dtype} of shape ({expected}), got {tensor.dtype} {ThinSvd.ShapeText(tensor.shape)}.", nameof(tensors));
        }

        return tensor;
    }

    private static long[] ReadLongs(IReadOnlyDictionary<string, Tensor> tensors, string key, long length)
    {
        using var cpu = Lookup(tensors, key, ScalarType.Int64, length).cpu();
        return cpu.data<long>().ToArray();
    }

    private static double[] ReadDoubles(IReadOnlyDictionary<string, Tensor> tensors, string key, long length)
    {
        using var cpu = Lookup(tensors, key, ScalarType.Float64, length).cpu();
        return cpu.data<double>().ToArray();
    }
}
