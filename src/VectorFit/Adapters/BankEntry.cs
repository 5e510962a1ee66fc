using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

/// <summary>One adapter of an <see cref="AdapterBank"/>: its σ and b per layer (in the bank's layer order) and its head tensors.</summary>
internal sealed class BankEntry : IDisposable
{
    public BankEntry(string name, bool isBase)
    {
        Name = name;
        IsBase = isBase;
    }

    /// <summary>The adapter's name.</summary>
    public string Name { get; }

    /// <summary>Whether this is row 0, the base model.</summary>
    public bool IsBase { get; }

    /// <summary>σ per layer, <c>(r)</c>.</summary>
    public List<Tensor> Sigma { get; } = new();

    /// <summary>b per layer, <c>(out_features)</c>, or null for a layer without a bias.</summary>
    public List<Tensor?> Bias { get; } = new();

    /// <summary>The head tensors, in the order of <see cref="AdapterBank.Slots"/>.</summary>
    public List<Tensor> Head { get; } = new();

    /// <summary>Every tensor of the entry.</summary>
    public IEnumerable<Tensor> All() => Sigma.Concat(Bias.OfType<Tensor>()).Concat(Head);

    public void Dispose()
    {
        foreach (var tensor in All())
        {
            tensor.Dispose();
        }
    }
}

/// <summary>
/// One tensor of a head (a parameter or a persistent buffer): its state_dict key, the module that owns it, the fields of that
/// module that hold it (which a routed forward points at another adapter's tensor for a moment), and the model's own tensor.
/// </summary>
internal sealed class HeadSlot
{
    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    private HeadSlot(string head, string key, nn.Module owner, FieldInfo[] fields, Tensor live)
    {
        Head = head;
        Key = key;
        Owner = owner;
        Fields = fields;
        Live = live;
    }

    /// <summary>The head's name in the model, e.g. <c>classifier</c>.</summary>
    public string Head { get; }

    /// <summary>The tensor's state_dict key in the model, e.g. <c>classifier.weight</c>.</summary>
    public string Key { get; }

    /// <summary>The module whose fields hold the tensor.</summary>
    public nn.Module Owner { get; }

    /// <summary>The fields of <see cref="Owner"/> that hold it.</summary>
    public FieldInfo[] Fields { get; }

    /// <summary>The model's tensor (the active adapter's values are copied into it).</summary>
    public Tensor Live { get; }

    /// <summary>Points the owner's fields at <paramref name="value"/> (a tensor of the same shape), for one routed evaluation.</summary>
    public void Point(Tensor value)
    {
        foreach (var field in Fields)
        {
            field.SetValue(Owner, value);
        }
    }

    /// <summary>Points the owner's fields back at the model's own tensor.</summary>
    public void Restore() => Point(Live);

    /// <summary>The slots of a head, in its state_dict order; a tensor no field holds is listed in <paramref name="problems"/> (routing then refuses).</summary>
    public static List<HeadSlot> Find(string headName, nn.Module head, List<string> problems)
    {
        var byKey = new Dictionary<string, (nn.Module Owner, Tensor Tensor)>(StringComparer.Ordinal);
        void Collect(string prefix, nn.Module module)
        {
            foreach (var (name, parameter) in module.named_parameters(recurse: false))
            {
                byKey.TryAdd(prefix + name, (module, parameter));
            }

            foreach (var (name, buffer) in module.named_buffers(recurse: false))
            {
                byKey.TryAdd(prefix + name, (module, buffer));
            }
        }

        Collect(string.Empty, head);
        foreach (var (name, module) in head.named_modules())
        {
            Collect(name + ".", module);
        }

        var slots = new List<HeadSlot>();
        foreach (var key in head.state_dict().Keys)
        {
            var (owner, tensor) = byKey[key];
            var fields = FieldsHolding(owner, tensor);
            if (fields.Length == 0)
            {
                problems.Add($"'{headName}.{key}' is held by no field of {owner.GetType().Name}");
            }

            slots.Add(new HeadSlot(headName, $"{headName}.{key}", owner, fields, tensor));
        }

        return slots;
    }

    private static FieldInfo[] FieldsHolding(nn.Module owner, Tensor tensor)
    {
        var fields = new List<FieldInfo>();
        for (var type = owner.GetType(); type is not null && type != typeof(nn.Module); type = type.BaseType)
        {
            foreach (var field in type.GetFields(InstanceFields))
            {
                if (typeof(Tensor).IsAssignableFrom(field.FieldType) && ReferenceEquals(field.GetValue(owner), tensor))
                {
                    fields.Add(field);
                }
            }
        }

        return fields.ToArray();
    }
}
