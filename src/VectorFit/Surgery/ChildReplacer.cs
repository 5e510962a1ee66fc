using System.Collections;
using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace VectorFit.Surgery;

/// <summary>
/// How to swap one registered child for another so that <c>forward</c> (which reads the parent's fields or
/// its container's list) and <c>named_modules</c>/<c>state_dict</c> (which read the registration) both see
/// the new module. Planning only reads; <see cref="SlotPlan.Apply"/> writes.
/// </summary>
/// <remarks>
/// TorchSharp has no <c>set_submodule</c> and <c>Linear</c> is sealed (facts 1–3). Per parent kind:
/// <list type="bullet">
/// <item>a plain module: every instance field in the user-declared type hierarchy that holds the child (directly, or in
/// an array or list) is set by reflection, then the name is re-registered (<c>register_module(name, null)</c>, then
/// <c>register_module(name, new)</c>, and the same for the children after it, to keep the child order);</item>
/// <item><c>Sequential</c>: its <c>forward</c> and its overridden <c>named_children</c>/<c>named_parameters</c> all read a
/// private <c>_modules</c> list, so that list's slot is set (no registration);</item>
/// <item><c>ModuleList&lt;T&gt;</c>: the indexer, then re-registration of the index name;</item>
/// <item><c>ModuleDict&lt;T&gt;</c>: the string indexer, then re-registration of the key.</item>
/// </list>
/// </remarks>
internal static class ChildReplacer
{
    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
    private static readonly Assembly TorchSharpAssembly = typeof(nn.Module).Assembly;

    /// <summary>Plans replacing <paramref name="oldChild"/> at <paramref name="slot"/> by a module of type <paramref name="newType"/>.</summary>
    public static SlotPlan Plan(ChildSlot slot, nn.Module oldChild, Type newType)
    {
        var plan = new SlotPlan(slot);
        var parent = slot.Parent;
        var parentType = parent.GetType();
        var registered = true;

        if (parent is Sequential)
        {
            PlanSequential(plan, oldChild, newType);
            registered = false;
        }
        else if (GenericBase(parentType, typeof(ModuleList<>)) is { } listType)
        {
            PlanModuleList(plan, listType, oldChild, newType);
        }
        else if (GenericBase(parentType, typeof(ModuleDict<>)) is { } dictType)
        {
            PlanModuleDict(plan, dictType, oldChild, newType);
        }

        var fieldSetters = PlanFields(plan, oldChild, newType);
        if (plan.Setters.Count == 0 && plan.Problems.Count == 0 && fieldSetters == 0)
        {
            plan.Problems.Add(
                $"Cannot replace '{slot.Path}': {TypeName(parentType)} registers it as '{slot.Name}' but no field of {TypeName(parentType)} holds it, " +
                "so forward would keep using the old layer. Keep the layer in a field typed Module<Tensor, Tensor> (or in a Sequential, ModuleList or ModuleDict).");
        }

        if (registered)
        {
            plan.Setters.Add(newChild => Reregister(parent, slot.Name, newChild));
        }

        return plan;
    }

    /// <summary>A readable C# name for a type: <c>ModuleList&lt;Module&lt;Tensor, Tensor&gt;&gt;</c>.</summary>
    public static string TypeName(Type type)
    {
        if (!type.IsGenericType)
        {
            return type.Name;
        }

        var name = type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)];
        return $"{name}<{string.Join(", ", type.GetGenericArguments().Select(TypeName))}>";
    }

    /// <summary>
    /// Registers <paramref name="newChild"/> under <paramref name="name"/> in place of the old child. Registration
    /// appends, so the children after it are re-registered too: the parent's child order, and with it the order of
    /// <c>named_modules</c>, <c>named_parameters</c> and <c>state_dict</c>, stays as it was.
    /// </summary>
    private static void Reregister(nn.Module parent, string name, nn.Module newChild)
    {
        var children = new List<(string Name, nn.Module Module)>();
        foreach (var (childName, child) in parent.named_children())
        {
            children.Add((childName, child));
        }

        var index = Math.Max(0, children.FindIndex(c => c.Name == name));
        for (var i = index; i < children.Count; i++)
        {
            parent.register_module(children[i].Name, null!);
        }

        for (var i = index; i < children.Count; i++)
        {
            parent.register_module(children[i].Name, children[i].Name == name ? newChild : children[i].Module);
        }
    }

    private static void PlanSequential(SlotPlan plan, nn.Module oldChild, Type newType)
    {
        var field = typeof(Sequential).GetField("_modules", BindingFlags.Instance | BindingFlags.NonPublic);
        if (field?.GetValue(plan.Slot.Parent) is not IList modules)
        {
            plan.Problems.Add(
                $"Cannot replace '{plan.Slot.Path}' inside a Sequential: this TorchSharp build's Sequential has no private '_modules' list (TorchSharp 0.105.1 and 0.107.0 have one). " +
                "Hold the layer in a field or a ModuleList instead.");
            return;
        }

        var index = IndexOf(modules, oldChild, plan.Slot.Ordinal);
        if (index < 0)
        {
            plan.Problems.Add($"Cannot replace '{plan.Slot.Path}': the Sequential lists it by name but its module list does not hold it.");
            return;
        }

        if (!typeof(nn.IModule<torch.Tensor, torch.Tensor>).IsAssignableFrom(newType))
        {
            plan.Problems.Add($"Cannot replace '{plan.Slot.Path}': a Sequential holds IModule<Tensor, Tensor> and {TypeName(newType)} is not one.");
            return;
        }

        plan.Setters.Add(newChild => modules[index] = newChild);
    }

    private static void PlanModuleList(SlotPlan plan, Type listType, nn.Module oldChild, Type newType)
    {
        var itemType = listType.GetGenericArguments()[0];
        var items = ((IEnumerable)plan.Slot.Parent).Cast<object>().ToList();
        var preferred = int.TryParse(plan.Slot.Name, out var parsed) ? parsed : -1;
        var index = IndexOf(items, oldChild, preferred);
        if (index < 0)
        {
            plan.Problems.Add(
                $"Cannot replace '{plan.Slot.Path}': the ModuleList registers it as '{plan.Slot.Name}' but no longer holds it (the list was changed after registration).");
            return;
        }

        if (!itemType.IsAssignableFrom(newType))
        {
            plan.Problems.Add(
                $"Cannot replace '{plan.Slot.Path}': it is item {index} of a {TypeName(listType)}, which cannot hold a {TypeName(newType)}. " +
                $"Declare the list as ModuleList<Module<Tensor, Tensor>> (or ModuleList<Module>).");
            return;
        }

        var indexer = listType.GetProperty("Item", new[] { typeof(int) })!;
        plan.Setters.Add(newChild => indexer.SetValue(plan.Slot.Parent, newChild, new object[] { index }));
    }

    private static void PlanModuleDict(SlotPlan plan, Type dictType, nn.Module oldChild, Type newType)
    {
        var itemType = dictType.GetGenericArguments()[0];
        var indexer = dictType.GetProperty("Item", new[] { typeof(string) })!;
        var contains = (bool)dictType.GetMethod("ContainsKey", new[] { typeof(string) })!.Invoke(plan.Slot.Parent, new object[] { plan.Slot.Name })!;
        if (!contains || !ReferenceEquals(indexer.GetValue(plan.Slot.Parent, new object[] { plan.Slot.Name }), oldChild))
        {
            plan.Problems.Add(
                $"Cannot replace '{plan.Slot.Path}': the ModuleDict registers it under '{plan.Slot.Name}' but holds another module (or none) under that key.");
            return;
        }

        if (!itemType.IsAssignableFrom(newType))
        {
            plan.Problems.Add(
                $"Cannot replace '{plan.Slot.Path}': it is entry '{plan.Slot.Name}' of a {TypeName(dictType)}, which cannot hold a {TypeName(newType)}. " +
                "Declare the dictionary as ModuleDict<Module<Tensor, Tensor>> (or ModuleDict<Module>).");
            return;
        }

        plan.Setters.Add(newChild => indexer.SetValue(plan.Slot.Parent, newChild, new object[] { plan.Slot.Name }));
    }

    /// <summary>Plans setting every user-declared field (or array/list element in a field) that holds the old child; returns how many.</summary>
    private static int PlanFields(SlotPlan plan, nn.Module oldChild, Type newType)
    {
        var parent = plan.Slot.Parent;
        var count = 0;
        for (var type = parent.GetType(); type is not null && type.Assembly != TorchSharpAssembly; type = type.BaseType)
        {
            foreach (var field in type.GetFields(InstanceFields))
            {
                if (field.FieldType.IsValueType || field.IsLiteral)
                {
                    continue;
                }

                var value = field.GetValue(parent);
                if (ReferenceEquals(value, oldChild))
                {
                    count++;
                    if (!field.FieldType.IsAssignableFrom(newType))
                    {
                        plan.Problems.Add(FieldProblem(plan.Slot, field, newType));
                        continue;
                    }

                    plan.Setters.Add(newChild => field.SetValue(parent, newChild));
                }
                else if (value is IList list and not nn.Module)
                {
                    count += PlanListField(plan, field, list, oldChild, newType);
                }
            }
        }

        return count;
    }

    private static int PlanListField(SlotPlan plan, FieldInfo field, IList list, nn.Module oldChild, Type newType)
    {
        var count = 0;
        for (var i = 0; i < list.Count; i++)
        {
            if (!ReferenceEquals(list[i], oldChild))
            {
                continue;
            }

            count++;
            var elementType = ElementType(list.GetType());
            if ((list.IsReadOnly && !list.GetType().IsArray) || elementType is null || !elementType.IsAssignableFrom(newType))
            {
                plan.Problems.Add(
                    $"Cannot replace '{plan.Slot.Path}': element {i} of field '{field.Name}' ({TypeName(list.GetType())}) of {TypeName(plan.Slot.Parent.GetType())} " +
                    $"cannot hold a {TypeName(newType)}. Declare its elements as Module<Tensor, Tensor>.");
                continue;
            }

            var index = i;
            plan.Setters.Add(newChild => list[index] = newChild);
        }

        return count;
    }

    private static string FieldProblem(ChildSlot slot, FieldInfo field, Type newType)
    {
        var component = field.ComponentName();
        var registeredAs = component == field.Name ? string.Empty : $" (registered as '{component}')";
        var sealedNote = field.FieldType.IsSealed ? $" ({TypeName(field.FieldType)} is sealed)" : string.Empty;
        return $"Cannot replace '{slot.Path}': field '{field.Name}'{registeredAs} of {TypeName(field.DeclaringType!)} is declared as {TypeName(field.FieldType)}, " +
            $"which cannot hold a {TypeName(newType)}{sealedNote}. Declare the field as Module<Tensor, Tensor> (or IModule<Tensor, Tensor>) so the layer can be swapped.";
    }

    private static int IndexOf(IList items, object item, int preferred)
    {
        if (preferred >= 0 && preferred < items.Count && ReferenceEquals(items[preferred], item))
        {
            return preferred;
        }

        for (var i = 0; i < items.Count; i++)
        {
            if (ReferenceEquals(items[i], item))
            {
                return i;
            }
        }

        return -1;
    }

    private static Type? GenericBase(Type type, Type definition)
    {
        for (Type? t = type; t is not null; t = t.BaseType)
        {
            if (t.IsGenericType && t.GetGenericTypeDefinition() == definition)
            {
                return t;
            }
        }

        return null;
    }

    private static Type? ElementType(Type listType)
    {
        if (listType.IsArray)
        {
            return listType.GetElementType();
        }

        return listType.GetInterfaces()
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IList<>))?
            .GetGenericArguments()[0];
    }
}

/// <summary>The outcome of planning one replacement: the problems found, or the writes that perform it.</summary>
internal sealed class SlotPlan
{
    public SlotPlan(ChildSlot slot) => Slot = slot;

    /// <summary>The slot being replaced.</summary>
    public ChildSlot Slot { get; }

    /// <summary>Why the replacement cannot be done (empty when it can).</summary>
    public List<string> Problems { get; } = new();

    /// <summary>The writes, in order; run only when no slot of the surgery has a problem.</summary>
    public List<Action<nn.Module>> Setters { get; } = new();

    /// <summary>Performs the replacement.</summary>
    public void Apply(nn.Module newChild)
    {
        foreach (var setter in Setters)
        {
            setter(newChild);
        }
    }
}
